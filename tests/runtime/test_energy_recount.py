"""The energy model's synapse geometry against the runtime's counts, on spikes the fast simulator recorded.

Synops are recounted from the recorded spike rasters and the energy model's per-neuron fan-out
(enof.runtime.energy.routing.fan_out), independently of enof.runtime.counts; the two must agree exactly
(integers). The spike destinations the energy model routes to are checked against a brute-force walk.
"""

import numpy as np
import pytest

from enof.formats.placement import PlacedCore
from enof.runtime.counts import synops_per_neuron
from enof.runtime.energy.inputs import projections_from_program
from enof.runtime.energy.routing import INPUT, MeshGeometry, fan_out, route_cores, synapse_count
from enof.runtime.fast import simulate


@pytest.mark.parametrize("input_mode", ["graded", "current"])
def test_synops_from_recorded_spikes_and_energy_fan_out_equal_the_runtime_counts(
    random_program, random_inputs, input_mode
):
    program = random_program(input_mode, seed=11, timesteps=3, channels=3)
    x = random_inputs(program, batch=3, seed=11)
    run = simulate(program, x, "fixed", record_spikes=True)
    counted = synops_per_neuron(program, run.spike_counts, run.input_nonzero)
    x_events = (program.quantize_input(x) != 0).astype(np.int64)  # graded: each non-zero value is one event
    for name in program.layers:
        recount = 0
        for proj in (p for p in projections_from_program(program) if p.target == name):
            if proj.source == INPUT:
                events = x_events.sum(0) * program.timesteps  # the input is constant over the T steps
                per_event = fan_out(proj) if proj.kind != "current" else np.ones(proj.source_shape, np.int64)
            else:
                events = run.spikes[proj.source].sum((0, 1), dtype=np.int64)
                per_event = fan_out(proj)
            recount += int((events.reshape(per_event.shape) * per_event).sum())
        assert recount == int(counted[name].sum()) > 0, name


def test_every_neuron_firing_every_step_makes_synops_per_step_equal_the_synapse_count(random_program):
    # The ANN baseline's MACs (synapse_count) are what the SNN would do at firing rate 1, once per step.
    program = random_program("graded", seed=3, timesteps=2, channels=2)
    ones = {name: np.full(layer.shape, program.timesteps, np.int64) for name, layer in program.layers.items()}
    counted = synops_per_neuron(program, ones, np.full(program.input_shape, program.timesteps, np.int64))
    for name in program.layers:
        macs = sum(synapse_count(p) for p in projections_from_program(program) if p.target == name)
        assert int(counted[name].sum()) == program.timesteps * macs, name


def test_geometric_destinations_equal_a_brute_force_walk_over_neurons(random_program):
    program = random_program("graded", seed=4, timesteps=1, channels=2)
    projections = projections_from_program(program)
    mesh = MeshGeometry(cores_per_tile=4, tiles_x=8, tiles_y=4, chips_x=1, chips_y=1)
    # tile every 3-D layer into row bands × channel halves (tiles that cut pixels, on purpose), 1-D into 3 ranges
    placement, core_id = [], 0
    for name, layer in program.layers.items():
        shape = layer.shape
        if len(shape) == 3:
            rows = np.linspace(0, shape[1], min(3, shape[1]) + 1).astype(int)
            chans = np.linspace(0, shape[0], min(2, shape[0]) + 1).astype(int)
            boxes = [((int(a), int(b)), (0, shape[2]), (int(c), int(d)))
                     for a, b in zip(rows[:-1], rows[1:]) for c, d in zip(chans[:-1], chans[1:])]
        else:
            bounds = np.linspace(0, layer.neurons, 4).astype(int)
            boxes = [(None, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        start = 0
        for box in boxes:
            tile = core_id // 4
            if box[0] is None:
                a, b, tiles = box[1], box[2], None
            else:
                a, b, tiles = start, start + int(np.prod([hi - lo for lo, hi in box])), box
            placement.append(PlacedCore(core_id, name, 0, tile, tile % 8, tile // 8, a, b, b - a, 0, 0, 0, {}, tiles))
            start, core_id = b, core_id + 1
    routes = route_cores(placement, {n: lay.neurons for n, lay in program.layers.items()}, list(projections), mesh)
    for src in placement:
        dests_per_neuron = []
        for n in _torch_indices(src, program.layers[src.layer].shape):
            dests = set()
            for proj in (p for p in projections if p.source == src.layer):
                hit = np.zeros(proj.target_shape, bool).ravel()
                _mark_targets(proj, n, hit)
                for dst in placement:
                    if dst.layer == proj.target and hit[_torch_indices(dst, proj.target_shape)].any():
                        dests.add(dst.core_id)
            dests_per_neuron.append(len(dests))
        # mean over the core's neurons (uniform firing within a core); float sum of small integers
        assert routes[src.core_id].messages_per_spike == pytest.approx(np.mean(dests_per_neuron), rel=1e-12)


def _torch_indices(core, shape):
    """Flat torch indices of a core's neurons, written out from the box (C, H, W torch layout)."""
    if core.box is None:
        return np.arange(core.neuron_start, core.neuron_stop)
    (y0, y1), (x0, x1), (c0, c1) = core.box
    return np.array([(c * shape[1] + y) * shape[2] + x for y in range(y0, y1) for x in range(x0, x1)
                     for c in range(c0, c1)])


def _mark_targets(proj, n, hit):
    """Brute force: every (output, tap) pair of the definition of conv/dense that reads neuron n."""
    if proj.kind == "dense":
        hit[:] = True
        return
    c_in, h_in, w_in = proj.source_shape
    c_out, h_out, w_out = proj.target_shape
    _, y, x = np.unravel_index(n, proj.source_shape)
    for oy in range(h_out):
        for ox in range(w_out):
            for ky in range(proj.kernel[0]):
                for kx in range(proj.kernel[1]):
                    if oy * proj.stride[0] - proj.padding[0] + ky == y and ox * proj.stride[1] - proj.padding[1] + kx == x:
                        for co in range(c_out):
                            hit[np.ravel_multi_index((co, oy, ox), proj.target_shape)] = True
