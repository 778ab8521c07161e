"""Activity counts: synops recounted from recorded spike rasters with explicit loops must match exactly."""

import numpy as np
import pytest

from enof.errors import RunError
from enof.formats.placement import PlacedCore
from enof.runtime.counts import count_activity, synops_per_neuron
from enof.runtime.fast import simulate
from enof.runtime.program import INPUT


def _loop_synops(program, rasters, x_int):
    """Every event, one at a time: for each presynaptic event, +1 on each post neuron it connects to."""
    steps, batch = program.timesteps, x_int.shape[0]
    synops = {n: np.zeros(lay.shape, np.int64) for n, lay in program.layers.items()}
    for syn in program.synapses:
        post = synops[syn.target]
        for t in range(steps):
            for b in range(batch):
                pre = x_int[b] if syn.source == INPUT else rasters[syn.source][t, b]
                for idx in zip(*np.nonzero(pre)):
                    if syn.kind == "current":
                        post[idx] += 1
                    elif syn.kind == "dense":
                        post += 1
                    else:
                        c_out, _, k_h, k_w = syn.weight.shape
                        _, y, x = idx
                        (s_y, s_x), (p_y, p_x) = syn.stride, syn.padding
                        # outputs (oy, ox) with oy*s - p + ky == y for some tap ky in [0, kH)
                        for ky in range(k_h):
                            for kx in range(k_w):
                                oy, ry = divmod(y + p_y - ky, s_y)
                                ox, rx = divmod(x + p_x - kx, s_x)
                                if ry == 0 and rx == 0 and 0 <= oy < post.shape[1] and 0 <= ox < post.shape[2]:
                                    post[:, oy, ox] += 1  # one synapse to every output channel
    return synops


@pytest.mark.parametrize("input_mode, identity_exp", [("graded", None), ("current", None), ("graded", 2)])
def test_synops_equal_an_explicit_loop_over_recorded_spikes(random_program, random_inputs, input_mode, identity_exp):
    # Exact integers on both sides. An identity shortcut with weight_exp counts as the 1×1 conv it is:
    # the exponent scales the weights, not the connectivity.
    program = random_program(input_mode, seed=5, timesteps=2, channels=2, identity_exp=identity_exp)
    x = random_inputs(program, batch=2, seed=5)
    run = simulate(program, x, "fixed", record_spikes=True)
    expected = _loop_synops(program, run.spikes, program.quantize_input(x))
    got = synops_per_neuron(program, run.spike_counts, run.input_nonzero)
    for name in program.layers:
        assert np.array_equal(got[name], expected[name]), name
        assert got[name].sum() > 0


def test_layer_and_core_totals_split_by_placement_ranges(random_program, random_inputs):
    program = random_program("graded", seed=6, timesteps=3)
    x = random_inputs(program, batch=4, seed=6)
    run = simulate(program, x, "fixed")
    n0 = program.layers["b.0.act"].neurons  # 256 neurons over two cores, the rest one core each
    c1 = program.layers["b.0.act"].shape[0]  # two tiles of rows [0, 3) and [3, 8), all columns and channels
    tile0 = 3 * 8 * c1
    cores = [{"core_id": 0, "layer": "b.0.act", "neuron_start": 0, "neuron_stop": tile0, "box": ((0, 3), (0, 8), (0, c1))},
             {"core_id": 1, "layer": "b.0.act", "neuron_start": tile0, "neuron_stop": n0,
              "box": ((3, 8), (0, 8), (0, c1))}]  # fmt: skip
    for i, name in enumerate(["b.1.act", "b.2.act2", "fc.act"], start=2):
        cores.append({"core_id": i, "layer": name, "neuron_start": 0, "neuron_stop": program.layers[name].neurons})
    activity = count_activity(program, run.spike_counts, run.input_nonzero, samples=4, cores=_placed(cores))
    synops = synops_per_neuron(program, run.spike_counts, run.input_nonzero)
    first = activity.layers[0]
    assert (first.name, first.neurons, first.cores) == ("b.0.act", n0, 2)
    assert first.neuron_updates == n0 * 3 * 4
    assert first.spikes == int(run.spike_counts["b.0.act"].sum())
    # a core's tile (placement.json "box", rows × columns × channels) holds those positions of (H, W, C)
    assert activity.cores[0].spikes == int(run.spike_counts["b.0.act"].transpose(1, 2, 0).reshape(-1)[:tile0].sum())
    assert activity.cores[1].synops == int(synops["b.0.act"].transpose(1, 2, 0).reshape(-1)[tile0:].sum())
    assert activity.cores[0].neuron_updates == tile0 * 3 * 4
    for layer in activity.layers:  # cores of a layer add up to the layer
        mine = [c for c in activity.cores if c.layer == layer.name]
        assert sum(c.spikes for c in mine) == layer.spikes
        assert sum(c.synops for c in mine) == layer.synops
        assert sum(c.neuron_updates for c in mine) == layer.neuron_updates
    # dense fan-in: every spike of b.2.act2 reaches all 10 fc neurons
    assert activity.layers[3].synops == 10 * int(run.spike_counts["b.2.act2"].sum())


def test_placement_core_outside_its_layer_is_an_error_naming_it(random_program, random_inputs):
    program = random_program("graded")
    run = simulate(program, random_inputs(program, batch=1), "fixed")
    bad = _placed([{"core_id": 7, "layer": "fc.act", "neuron_start": 0, "neuron_stop": 11}])
    with pytest.raises(RunError, match=r"core 7: neurons \[0, 11\) outside layer 'fc.act' of 10 neurons"):
        count_activity(program, run.spike_counts, run.input_nonzero, samples=1, cores=bad)


def _placed(cores: list[dict]) -> list[PlacedCore]:
    """PlacedCores holding these neuron ranges and tiles (where on the mesh and how full do not matter to counting)."""
    return [
        PlacedCore(core_id=c["core_id"], layer=c["layer"], chip=0, tile=0, x=0, y=0, neuron_start=c["neuron_start"],
                   neuron_stop=c["neuron_stop"], neurons=c["neuron_stop"] - c["neuron_start"], input_axons=0,
                   output_axons=0, synapse_bits=0, utilization={}, box=c.get("box"))
        for c in cores
    ]  # fmt: skip
