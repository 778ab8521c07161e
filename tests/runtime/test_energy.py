"""The energy model on a small hand-built network: routing geometry, synapse counts, prices by hand."""

from dataclasses import dataclass, replace

import pytest

from enof.errors import ProfileError, RunResultError
from enof.hardware_profiles import load_profile
from enof.formats.placement import PlacedCore
from enof.formats.run_result import CoreActivity, HostCost, LayerActivity
from enof.hardware_profiles import CostModel, Quantity
from enof.runtime.energy.price import EnergyInputs, check_cost_model, compute_energy
from enof.runtime.energy.result import HostLayer
from enof.runtime.energy.inputs import mesh_from_profile
from enof.runtime.energy.routing import INPUT, MeshGeometry, route_cores, synapse_count
from enof.synapses import Connection

MESH = MeshGeometry(cores_per_tile=4, tiles_x=8, tiles_y=4, chips_x=2, chips_y=1)

# a: LIF (2,4,4) fed by input current; b: LIF (1,4,4) from a by conv 3x3 pad 1; c: LIF (5,) dense from b.
PROJECTIONS = (
    Connection("current", (2, 4, 4), (2, 4, 4), source=INPUT, target="a"),
    Connection("conv", (2, 4, 4), (1, 4, 4), kernel=(3, 3), stride=(1, 1), padding=(1, 1), source="a", target="b"),
    Connection("dense", (1, 4, 4), (5,), source="b", target="c"),
)


def core(core_id, layer, chip, x, y, start, stop, box=None) -> PlacedCore:
    # axons/bits are the placer's business; the energy model reads position and neurons (box or flat range) only
    return PlacedCore(core_id, layer, chip, y * MESH.tiles_x + x, x, y, start, stop, stop - start, 0, 0, 0, {}, box)


PLACEMENT = (
    core(0, "a", chip=0, x=0, y=0, start=0, stop=16, box=((0, 2), (0, 4), (0, 2))),  # rows 0-1, both channels
    core(1, "a", chip=0, x=1, y=0, start=16, stop=32, box=((2, 4), (0, 4), (0, 2))),  # rows 2-3, both channels
    core(2, "b", chip=0, x=0, y=1, start=0, stop=8, box=((0, 2), (0, 4), (0, 1))),  # rows 0-1
    core(3, "b", chip=0, x=3, y=1, start=8, stop=16, box=((2, 4), (0, 4), (0, 1))),  # rows 2-3
    core(4, "c", chip=1, x=0, y=0, start=0, stop=5),  # next chip: 8 tiles east
)
SAMPLES, T = 2, 4


def cost_model(name: str, model_type=CostModel, **values) -> CostModel:
    quantities = {k: Quantity(v, "test constant", "assumption") for k, v in values.items()}
    return model_type(name=name, description="test", leaves_out=(), **quantities)


def make_inputs(**changes) -> EnergyInputs:
    layers = (
        LayerActivity("a", 32, 2, spikes=20, synops=256, neuron_updates=32 * T * SAMPLES),
        LayerActivity("b", 16, 2, spikes=10, synops=150, neuron_updates=16 * T * SAMPLES),
        LayerActivity("c", 5, 1, spikes=6, synops=50, neuron_updates=5 * T * SAMPLES),
    )
    cores = (
        CoreActivity(0, "a", spikes=12, synops=128, neuron_updates=128),
        CoreActivity(1, "a", spikes=8, synops=128, neuron_updates=128),
        CoreActivity(2, "b", spikes=4, synops=70, neuron_updates=64),
        CoreActivity(3, "b", spikes=6, synops=80, neuron_updates=64),
        CoreActivity(4, "c", spikes=6, synops=50, neuron_updates=40),
    )
    fields = dict(
        timesteps=T, samples=SAMPLES, input_mode="current", layers=layers, cores=cores,
        host=HostCost(host_in_macs=1000, host_out_macs=50, bytes_host_to_chip=128, bytes_chip_to_host=40),
        placement=PLACEMENT, projections=PROJECTIONS, mesh=MESH,
    )
    fields.update(changes)
    return EnergyInputs(**fields)


def test_conv_routing_reaches_only_the_cores_under_the_receptive_field():
    # Source row r reaches output rows r-1..r+1. Core 2 holds output rows 0-1, core 3 rows 2-3.
    # Core 0 holds source rows 0-1: row 0 reaches core 2 only, row 1 cores 2 and 3 -> 1.5 messages;
    # core 1 (rows 2-3) likewise: row 2 reaches cores 2 and 3, row 3 core 3 only.
    routes = route_cores(list(PLACEMENT), {"a": 32, "b": 16, "c": 5}, list(PROJECTIONS), MESH)
    assert routes[0].messages_per_spike == pytest.approx(1.5)
    assert routes[1].messages_per_spike == pytest.approx(1.5)
    # core 0 at tile (0,0): to core 2 (0,1) 0 E-W + 1 N-S (all of its neurons), to core 3 (3,1)
    # 3 E-W + 1 N-S (half of them).
    assert routes[0].hops_ew_per_spike == pytest.approx(1.0 * 0 + 0.5 * 3)
    assert routes[0].hops_ns_per_spike == pytest.approx(1.0 * 1 + 0.5 * 1)
    # b -> c is dense: every spike to the one core of c on chip 1, i.e. global tile (8, 0).
    assert routes[2].messages_per_spike == 1.0
    assert routes[2].hops_ew_per_spike == 8 and routes[2].hops_ns_per_spike == 1
    assert routes[3].hops_ew_per_spike == 5 and routes[3].chips_crossed_per_spike == 1
    # c feeds only the host: no mesh messages.
    assert routes[4].messages_per_spike == 0


def test_chips_of_a_2x2_mesh_are_numbered_along_x_first():
    # chip c sits at (c % chips_x, c // chips_x): chip 1 east of chip 0 at global tile (tiles_x, 0),
    # chip 2 north at (0, tiles_y), chip 3 at (tiles_x, tiles_y). tiles_x != tiles_y tells them apart.
    mesh = replace(MESH, chips_x=2, chips_y=2)
    assert (mesh.tiles_x, mesh.tiles_y) == (8, 4)
    sources = [core(chip, f"s{chip}", chip=0, x=0, y=0, start=0, stop=3) for chip in (1, 2, 3)]
    targets = [core(10 + chip, f"t{chip}", chip=chip, x=0, y=0, start=0, stop=2) for chip in (1, 2, 3)]
    projections = [Connection("dense", (3,), (2,), source=f"s{chip}", target=f"t{chip}") for chip in (1, 2, 3)]
    neurons = {**{c.layer: 3 for c in sources}, **{c.layer: 2 for c in targets}}
    routes = route_cores(sources + targets, neurons, projections, mesh)
    hops = {chip: (routes[chip].hops_ew_per_spike, routes[chip].hops_ns_per_spike) for chip in (1, 2, 3)}
    assert hops == {1: (8, 0), 2: (0, 4), 3: (8, 4)}
    assert all(routes[chip].chips_crossed_per_spike == 1 for chip in (1, 2, 3))


def test_all_cores_routing_is_an_upper_bound_on_geometric():
    args = (list(PLACEMENT), {"a": 32, "b": 16, "c": 5}, list(PROJECTIONS), MESH)
    geometric, upper = route_cores(*args), route_cores(*args, routing="all-cores")
    assert upper[0].messages_per_spike == 2.0
    for core_id in geometric:
        assert upper[core_id].messages_per_spike >= geometric[core_id].messages_per_spike
        assert upper[core_id].hops_ew_per_spike >= geometric[core_id].hops_ew_per_spike


def test_synapse_count_excludes_padding_and_current_has_no_macs():
    # conv 3x3 pad 1 on 4x4: valid taps per output row are 2,3,3,2 -> 10 per axis; 1*2*10*10 = 200.
    assert synapse_count(PROJECTIONS[1]) == 200
    assert synapse_count(PROJECTIONS[2]) == 16 * 5
    assert synapse_count(PROJECTIONS[0]) == 0
    # stride 2, pad 1, 3x3 on 8x8 -> 4 outputs per axis with taps 2,3,3,3 = 11; 64*32*11*11
    conv = Connection("conv", (32, 8, 8), (64, 4, 4), kernel=(3, 3), stride=(2, 2), padding=(1, 1), source="a", target="b")
    assert synapse_count(conv) == 64 * 32 * 11 * 11


def test_layer_b_energy_by_hand_from_the_loihi_davies2018_constants():
    result = compute_energy(make_inputs(), [load_profile("loihi").cost_models["davies2018"]])
    b = result.models[0].layers["b"]
    # Davies 2018 Table 2: synop 23.6 pJ, active update 81 pJ, inactive 52 pJ, within tile 1.7 pJ,
    # E-W hop 3.0 pJ, N-S hop 4.0 pJ. Per inference = totals / 2 samples.
    synops = 150 * 23.6 / 2  # 1770 pJ
    updates = (10 * 81.0 + (128 - 10) * 52.0) / 2  # spikes are the active updates: 3473 pJ
    # core 2: 4 spikes, 1 message, 8 E-W + 1 N-S hops; core 3: 6 spikes, 1 message, 5 E-W + 1 N-S.
    routing = (4 * (1.7 + 8 * 3.0 + 1 * 4.0) + 6 * (1.7 + 5 * 3.0 + 1 * 4.0)) / 2  # 121.5 pJ
    assert b.synops_pj == pytest.approx(synops, rel=1e-12)  # float sums only: exact to rounding
    assert b.neuron_updates_pj == pytest.approx(updates, rel=1e-12)
    assert b.routing_pj == pytest.approx(routing, rel=1e-12)
    assert b.total_pj == pytest.approx(1770 + 3473 + 121.5, rel=1e-12)


def test_totals_host_ann_and_static_power_add_up():
    model = cost_model("m", synop_pj=1.0, host_mac_pj=2.0, host_byte_pj=0.5, ann_mac_pj=3.0, static_power_w=0.25)
    result = compute_energy(make_inputs(), [model], timestep_us=10.0)
    energy = result.models[0]
    assert energy.chip_dynamic_pj == pytest.approx((256 + 150 + 50) / 2 * 1.0)
    # 0.25 W x 2 chips x 4 steps x 10 us = 20 uJ = 2e7 pJ
    assert energy.static_pj == pytest.approx(0.25 * 2 * 4 * 10e-6 * 1e12)
    assert energy.host_compute_pj == pytest.approx(1050 * 2.0)
    assert energy.host_io_pj == pytest.approx(168 * 0.5)
    # ANN: chip synapses 0 + 200 + 80 plus host 1050 MACs, once (T = 1).
    assert result.ann_macs == 1330
    assert energy.ann_pj == pytest.approx(1330 * 3.0)
    assert set(energy.not_priced) == {"neuron updates", "spike routing"}


def test_a_model_missing_a_partner_constant_names_profile_model_and_constant():
    model = cost_model("half", synop_pj=1.0, hop_ew_pj=3.0, spike_within_tile_pj=1.7)
    with pytest.raises(ProfileError, match=r"profile p.toml: cost model 'half' lacks hop_ns_pj"):
        check_cost_model(model, "p.toml")
    no_synop = cost_model("nosyn", neuron_update_active_pj=1.0, neuron_update_inactive_pj=1.0)
    with pytest.raises(ProfileError, match="lacks synop_pj"):
        check_cost_model(no_synop, "p.toml")


def test_counts_that_disagree_with_placement_are_refused():
    with pytest.raises(RunResultError, match="core 9 is not in placement.json"):
        make_inputs(cores=(CoreActivity(9, "a", 0, 0, 0),))
    bad = make_inputs().layers
    with pytest.raises(RunResultError, match="layer 'a' spikes 21 != 20"):
        make_inputs(layers=(replace(bad[0], spikes=21), *bad[1:]))


def test_every_builtin_cost_model_passes_its_check():
    for name in ("loihi", "loihi2"):
        profile = load_profile(name)
        for model in profile.cost_models.values():
            check_cost_model(model, profile.name)
    assert mesh_from_profile(load_profile("loihi")).tiles_x == 8


@dataclass(frozen=True)
class WithGradedSynop(CostModel):
    """The schema has no graded_synop_pj yet; the energy model reads it once a profile can give it."""

    graded_synop_pj: Quantity | None = None


def test_graded_input_layer_uses_graded_synop_pj_when_a_model_has_it():
    graded = (Connection("conv", (1, 4, 4), (2, 4, 4), kernel=(3, 3), padding=(1, 1), source=INPUT, target="a"), *PROJECTIONS[1:])
    inputs = make_inputs(input_mode="graded", projections=graded)
    plain = cost_model("plain", synop_pj=1.0)
    mac = cost_model("mac", WithGradedSynop, synop_pj=1.0, graded_synop_pj=4.6)
    result = compute_energy(inputs, [plain, mac])
    assert [a.graded_input for a in result.layers] == [True, False, False]
    # a: 256 synops over 2 samples; graded at 4.6 pJ under "mac", 1 pJ under "plain"; b is spiking in both
    assert result.models[0].layers["a"].synops_pj == pytest.approx(128.0)
    assert result.models[1].layers["a"].synops_pj == pytest.approx(128.0 * 4.6)
    assert result.models[1].layers["b"].synops_pj == pytest.approx(75.0)
    # the graded conv's synapses (1*2*10*10) are ANN MACs of a
    assert result.layers[0].ann_macs == 200


def test_static_power_is_charged_for_the_given_step_time_or_the_models_own():
    model = cost_model("m", synop_pj=1.0, static_power_w=0.25, timestep_us=100.0)
    default = compute_energy(make_inputs(), [model]).models[0]
    # no [timing]: the model's own step time: 0.25 W x 2 chips x 4 steps x 100 us = 200 uJ = 2e8 pJ
    assert default.static_pj == pytest.approx(0.25 * 2 * 4 * 100e-6 * 1e12) and default.static_s == pytest.approx(4e-4)
    # --timestep-us: the time is given: T steps per inference streamed
    given = compute_energy(make_inputs(), [model], timestep_us=10.0)
    assert given.models[0].static_pj == pytest.approx(default.static_pj / 10) and given.time.given_step_us == 10.0
    assert given.time.period_s == pytest.approx(4 * 10e-6)
    no_step = compute_energy(make_inputs(), [cost_model("n", synop_pj=1.0, static_power_w=0.25)]).models[0]
    assert no_step.static_pj is None and any("give --timestep-us" in p for p in no_step.not_priced)


def test_per_layer_and_per_core_firing_rate_is_spikes_over_neuron_updates():
    """firing_rate = spikes / (neurons · T · samples), per layer and per core; three different rates so that a
    swapped layer or a rate per inference (spikes / neurons) shows: a 24/256, b 10/128, c 6/40; cores 16/128, 8/128."""
    layers = (
        LayerActivity("a", 32, 2, spikes=24, synops=256, neuron_updates=32 * T * SAMPLES),
        LayerActivity("b", 16, 2, spikes=10, synops=150, neuron_updates=16 * T * SAMPLES),
        LayerActivity("c", 5, 1, spikes=6, synops=50, neuron_updates=5 * T * SAMPLES),
    )
    cores = (CoreActivity(0, "a", spikes=16, synops=128, neuron_updates=128), *make_inputs().cores[1:])
    result = compute_energy(make_inputs(layers=layers, cores=cores), [load_profile("loihi").cost_models["sanafe_loihi"]])
    assert {s.name: s.firing_rate for s in result.layers} == {"a": 0.09375, "b": 0.078125, "c": 0.15}
    assert [c.firing_rate for c in result.cores] == [0.125, 0.0625, 4 / 64, 6 / 64, 6 / 40]


def test_sanafe_loihi_host_mac_pj_is_horowitz_4_6_pj_and_prices_the_host_macs():
    """SANA-FE models the chip only; its host MACs are Horowitz 2014's 45 nm fp32 MAC: 3.7 pJ mult + 0.9 pJ add.
    The run's 1000 + 50 host MACs per inference cost 1050 × 4.6 = 4830 pJ, split by host layer."""
    model = load_profile("loihi").cost_models["sanafe_loihi"]
    assert model.host_mac_pj.value == pytest.approx(3.7 + 0.9, rel=1e-12)
    assert "Horowitz 2014" in model.host_mac_pj.source and model.host_mac_pj.grade == "derived"
    host_layers = (HostLayer("conv_in", "host_in", 1000), HostLayer("fc", "host_out", 50))
    energy = compute_energy(make_inputs(host_layers=host_layers), [model]).models[0]
    assert energy.host_compute_pj == pytest.approx(4830.0, rel=1e-12)
    assert energy.host_layers_pj == pytest.approx({"conv_in": 4600.0, "fc": 230.0}, rel=1e-12)
