"""placement.json of a real exported bundle, edited: version and order refused where enof-run reads it too,
every core within the profile's limits and on its mesh, and coverage: each neuron on exactly one core.

The loihi2 digits placement: core 0 holds act1 (512 neurons), core 1 act2 (256), both on tile 0."""

import copy

import numpy as np
import pytest

from enof.errors import BundleError
from enof.formats.placement import placement_from_dict
from enof.hardware_profiles import load_profile
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle

LOIHI2 = load_profile("loihi2")


@pytest.fixture
def bundle(edited_bundle):
    return edited_bundle("loihi2")


def _split(data: dict, core: int, bounds: list[int]) -> dict:
    """Core `core` cut into consecutive cores at `bounds` (inside its range), ids renumbered, on the same tile."""
    cores = data["cores"]
    first = cores[core]
    edges = [first["neuron_start"], *bounds, first["neuron_stop"]]
    # flat torch ranges (box null), so that any bounds are a valid cut
    pieces = [{**first, "neuron_start": a, "neuron_stop": b, "neurons": b - a, "box": None}
              for a, b in zip(edges[:-1], edges[1:])]
    data["cores"] = [*cores[:core], *pieces, *cores[core + 1 :]]
    for i, c in enumerate(data["cores"]):
        c["core_id"] = i
    for layer in data["layers"]:
        layer["cores"] = sum(c["layer"] == layer["name"] for c in data["cores"])
    return data


def _edit(data: dict, **core_fields) -> dict:
    """Core fields set as `<field>_<core index>=value`."""
    for key, value in core_fields.items():
        name, index = key.rsplit("_", 1)
        data["cores"][int(index)][name] = value
    return data


@pytest.mark.parametrize(
    "edit, tail",
    [
        (lambda d: {**d, "format_version": 1}, "format_version 1 is not 3 (neuron ranges in the old C,H,W order; re-export the bundle)"),
        (lambda d: {**d, "neuron_order": "chw"}, "neuron_order 'chw' is not 'tiles'"),
        (lambda d: {**d, "target": "loihi"}, "field 'target' is 'loihi', but the bundle is for the 'loihi2' profile"),
        (lambda d: {**d, "chips": 2}, "field 'chips' is 2, but the cores use chips 0..0"),
        (lambda d: {**d, "chips": "1"}, "field 'chips' must be an integer, got string '1'"),
        (lambda d: _edit(d, chip_1=1), "field 'cores[1].chip' is 1, outside [0, 0] (the placement's chips − 1)"),
        (lambda d: _edit(d, neuron_start_1="0"), "field 'cores[1].neuron_start' must be an integer, got string '0'"),
        (lambda d: _edit(d, neurons_0=500), "field 'cores[0]' holds [0, 512) but says neurons = 500 (need start < stop, neurons = stop − start)"),
        (lambda d: _edit(d, layer_1="act9"), "field 'cores[1].layer' is 'act9', not one of the layers in 'layers'"),
        (lambda d: _edit(d, utilization_0={"neurons": 1.5}), "field 'cores[0].utilization.neurons' is 1.5, outside [0.0, 1.0] (a fraction of the core's limit)"),
        (lambda d: _edit(d, utilization_0={"flops": 0.1}), "field 'cores[0].utilization' is 'flops', not one of neurons, input_axons, output_axons, synapse_bits"),
        (lambda d: _edit(d, synapse_bits_1=10**9), f"field 'cores[1].synapse_bits' is 1000000000, outside [0, {LOIHI2.limits.synapse_bits_per_core.value}] (the loihi2 profile's synapse_bits per core)"),
        (lambda d: _edit(d, input_axons_0=-1), "field 'cores[0].input_axons' is -1, outside [0, 9223372036854775807] (a 64-bit integer)"),
        (lambda d: _edit(d, x_1=8), "field 'cores[1].x' is 8, outside [0, 7] (the loihi2 profile's tiles_x − 1)"),
        (lambda d: _edit(d, tile_1=3), "field 'cores[1].tile' is 3, but (x, y) = (0, 0) is tile 0"),
        (lambda d: _edit(d, core_id_1=5), "core ids are not 0..1 in order"),
        (lambda d: {**d, "layers": d["layers"][:1], "cores": d["cores"][:1]}, "chip layer 'act2' is on no core (missing from 'layers')"),
        (lambda d: _edit(d, neuron_stop_0=500, neurons_0=500), "field 'cores[0]' ends 'act1' at neuron 500, leaving the rest of its 512 neurons on no core"),
        (lambda d: _edit(_split(d, 0, [100]), neuron_start_1=200, neurons_1=312), "field 'cores[1]' starts at neuron 200 of 'act1': neurons [100, 200) are on no core"),
        (lambda d: _edit(_split(d, 0, [300]), neuron_start_1=200, neurons_1=312), "field 'cores[1]' holds [200, 512) of 'act1', overlapping core 0's [0, 300)"),
        (lambda d: {**d, "cores": [*d["cores"], {**d["cores"][1], "core_id": 2}]}, "field 'layers[1].cores' is 1, but 2 cores hold 'act2'"),
        (lambda d: {**d, "layers": [d["layers"][0], {**d["layers"][1], "cores": 2}]}, "field 'layers[1].cores' is 2, but 1 cores hold 'act2'"),
        (lambda d: _edit(_split(d, 1, [128]), neuron_start_2=0, neurons_2=256),
         "field 'cores[2]' holds [0, 256) of 'act2', overlapping core 1's [0, 128)"),
        (lambda d: _split(d, 0, [100, 200, 300, 400]), "field 'cores[0]' shares its tile with 5 other cores; the loihi2 profile allows 4 cores per tile"),
        (lambda d: {**d, "layers": [{**d["layers"][0], "neurons": 511}, d["layers"][1]]}, "field 'layers[0].neurons' is 511, but chip.nir's 'act1' has 512 neurons"),
        (lambda d: {**d, "layers": [d["layers"][0], d["layers"][0]]}, "field 'layers[1].name' is 'act1' a second time"),
        (lambda d: {**d, "layers": [{**d["layers"][0], "fullest_fraction": float("nan")}, d["layers"][1]]}, "not valid JSON (NaN is not a JSON number)"),
    ],
)  # fmt: skip
def test_a_wrong_placement_is_one_line_where_enof_run_reads_it(bundle, refused, edit, tail):
    bundle.write_placement(edit(copy.deepcopy(bundle.placement())))
    refused(lambda: open_bundle(bundle.root), BundleError, f"placement.json: {tail}")


def test_hostile_placement_json_is_one_line(bundle, refused):
    bundle.write_placement("[" * 100_000 + "]" * 100_000)
    refused(lambda: open_bundle(bundle.root), BundleError, "placement.json: JSON nested too deeply to parse (a damaged or hostile file)")


def test_the_valid_edges_place_and_count_per_core(bundle, digits_test_set):
    """Four cores on one tile (the profile's cores_per_tile), a core of one neuron, a core at the synapse
    memory limit, a fraction of exactly 1: accepted, and the per-core counts still add up to the layer's."""
    assert LOIHI2.mesh.cores_per_tile.value == 4
    data = _split(bundle.placement(), 1, [1, 255])  # act2 on cores 1-3: 1, 254 and 1 neurons
    data["cores"][0]["synapse_bits"] = LOIHI2.limits.synapse_bits_per_core.value
    data["cores"][0]["utilization"]["synapse_bits"] = 1.0
    bundle.write_placement(data)
    assert [c.neurons for c in open_bundle(bundle.root).placement.cores] == [512, 1, 254, 1]
    images, labels = digits_test_set
    result = run_bundle(open_bundle(bundle.root), images[:3], labels[:3], progress=False)
    layer = next(layer for layer in result.layers if layer.name == "act2")
    mine = [c for c in result.cores if c.layer == "act2"]
    assert len(mine) == layer.cores == 3 and sum(c.spikes for c in mine) == layer.spikes
    assert [c.neuron_updates for c in mine] == [n * 2 * 3 for n in (1, 254, 1)]


def test_without_a_profile_or_layers_the_standalone_reader_still_checks_coverage(bundle):
    data = _edit(_split(bundle.placement(), 0, [300]), neuron_start_1=200, neurons_1=312)
    with pytest.raises(BundleError, match=r"^p: field 'cores\[1\]' holds \[200, 512\) of 'act1', overlapping"):
        placement_from_dict(data, "p")
    assert placement_from_dict(bundle.placement(), "p").chips == 1


def test_ten_thousand_cores_are_checked_and_read(bundle):
    """The columns are checked with numpy: a large placement (the readers handle 10^5 cores) stays cheap."""
    data = bundle.placement()
    n = 10_000
    data["layers"] = [{"name": "big", "neurons": n * 4, "cores": n, "fullest_limit": "neurons", "fullest_fraction": 0.1,
                       "block": [1, 1, 4]}]
    data["cores"] = [{"core_id": i, "layer": "big", "chip": i // 128, "tile": (i % 128) // 4, "x": (i % 128) // 4 % 8,
                      "y": (i % 128) // 4 // 8, "neuron_start": 4 * i, "neuron_stop": 4 * i + 4, "neurons": 4,
                      "input_axons": 0, "output_axons": 0, "synapse_bits": 0, "utilization": {}, "box": None} for i in range(n)]  # fmt: skip
    data["chips"] = -(-n // 128)
    placement = placement_from_dict(data, "p", LOIHI2, {"big": (n * 4,)})
    assert len(placement.cores) == n and np.all(np.diff([c.neuron_start for c in placement.cores]) == 4)


def test_enof_run_refuses_a_version_1_placement_in_one_line(bundle, cli_refuses, tmp_path):
    bundle.write_placement({**bundle.placement(), "format_version": 1})
    cli_refuses("enof-run", bundle.root, "--limit", "2", "-o", tmp_path / "run.json",
                fragments=("placement.json: format_version 1 is not 3 (neuron ranges in the old C,H,W order",))
