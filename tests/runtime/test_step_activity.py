"""StepRecorder's batched per-step counts equal, bit for bit, the per-sample reference it replaced (one sample at a
time: a bincount over the neuron → core column and ``fan_in_events`` per sample), on real exported bundles (digits
current mode and graded input, an mnist_cnn-sized conv net, event frames) with their real spikes and with random
ones."""

from __future__ import annotations

import numpy as np
import pytest

from enof.formats.run_result import STEP_FIELDS
from enof.runtime.bundle import open_bundle
from enof.runtime.fast import simulate
from enof.runtime.step_activity import StepRecorder
from tests.conftest import export_digits_bundle, make_random_inputs
from tests.runtime.per_sample_recorder import PerSampleRecorder


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, digits_bundle, event_bundle):
    """name → opened bundle: digits on Loihi 1 (current mode) and Loihi 2 (graded input), mnist_cnn width 4 on
    28×28 (Loihi 1: its first layer on 4 cores of 14×14, so spikes reach some cores and not others), N-MNIST
    event frames on Loihi 2 (graded, temporal) and Loihi 1 (binary input spikes)."""
    mnist, _ = export_digits_bundle(tmp_path_factory.mktemp("mnist_cnn"), "loihi", width=4, arch="mnist_cnn",
                                    dataset="mnist5k")  # fmt: skip
    return {"digits-loihi": open_bundle(digits_bundle("loihi")[0]),
            "digits-loihi2": open_bundle(digits_bundle("loihi2")[0]), "mnist_cnn-loihi": open_bundle(mnist),
            "events-loihi2": open_bundle(event_bundle("loihi2")[0]),
            "events-loihi": open_bundle(event_bundle("loihi")[0])}  # fmt: skip


def _chip_inputs(bundle, batch: int, seed: int) -> np.ndarray:
    """What the chip takes for ``batch`` samples: the conftest's random inputs, T frames each for event input."""
    program = bundle.program
    if not program.input_temporal:
        return make_random_inputs(program, batch, seed)
    return make_random_inputs(program, batch * program.timesteps, seed).reshape(batch, *program.sample_shape)


def _assert_same(new: StepRecorder, old: StepRecorder) -> None:
    for f in STEP_FIELDS:
        assert np.array_equal(new.sums[f], old.sums[f]), f
        assert np.array_equal(new.maxima[f], old.maxima[f]), f
    assert new.sums["spikes"].sum() > 0 and new.sums["synops"].sum() > 0  # something was counted


@pytest.mark.parametrize("name", ["digits-loihi", "digits-loihi2", "mnist_cnn-loihi", "events-loihi2", "events-loihi"])
def test_batched_counts_equal_the_per_sample_reference_on_the_simulators_spikes(bundles, name):
    bundle = bundles[name]
    new, old = StepRecorder(bundle.program, bundle.placement.cores), PerSampleRecorder(bundle.program, bundle.placement.cores)

    def both(t, spikes, events):
        new.add_step(t, spikes, events)
        old.add_step(t, spikes, events)

    for seed, batch in ((0, 7), (1, 3)):  # two batches: sums add up, maxima rise across batches
        simulate(bundle.program, _chip_inputs(bundle, batch, seed), "fixed", on_step=both)
    _assert_same(new, old)
    assert new.maxima["spikes"].max() < new.sums["spikes"].max()  # maxima are per sample, not the batch's sums


# How a layer's cores are summed: the float32 product with its neuron → core matrix; each core's box (the matrix
# not held: MATRIX_VALUES 0); each core's box because a step's total could pass the float32 bound (lowered to 1
# after the matrices were made, so the check at each step decides).
SUMS = {"matrix": {}, "boxes": {"MATRIX_VALUES": 0}, "over float32": {"FLOAT32_EXACT": 1}}


# The spikes as each caller hands them over: the simulator's float32, Lava's and the referee's integer rasters, bool.
RASTER_DTYPES = {0: np.float32, 1: np.int64, 2: np.bool_}


@pytest.mark.parametrize("sums", list(SUMS))
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["digits-loihi2", "mnist_cnn-loihi", "events-loihi"])
def test_batched_counts_equal_the_per_sample_reference_on_random_spikes(bundles, name, seed, sums, monkeypatch):
    """Random 0/1 spikes of a random density per layer (float32, int64 or bool by seed), and random input events
    (graded inputs as their non-zero values); chunks of 3 samples (CHUNK_VALUES) so that a batch of 8 splits 3 + 3 + 2."""
    from enof.runtime import step_activity

    bundle, rng = bundles[name], np.random.default_rng(seed)
    program = bundle.program
    monkeypatch.setattr(StepRecorder, "CHUNK_VALUES",
                        3 * max([layer.neurons for layer in program.layers.values()] + [int(np.prod(program.input_shape))]))
    monkeypatch.setattr(StepRecorder, "MATRIX_VALUES", SUMS[sums].get("MATRIX_VALUES", StepRecorder.MATRIX_VALUES))
    new, old = StepRecorder(program, bundle.placement.cores), PerSampleRecorder(program, bundle.placement.cores)
    monkeypatch.setattr(step_activity, "FLOAT32_EXACT", SUMS[sums].get("FLOAT32_EXACT", step_activity.FLOAT32_EXACT))
    assert new._chunk == 3
    assert all((s.matrix is not None) == (sums != "boxes") for s in [*new._sums.values(), *new._sent.values()])
    batch = 8
    for t in range(program.timesteps):
        spikes = {n: (rng.random((batch, *layer.shape)) < rng.uniform(0.05, 0.9)).astype(RASTER_DTYPES[seed])
                  for n, layer in program.layers.items()}  # fmt: skip
        events = rng.random((batch, *program.input_shape)) < rng.uniform(0.1, 0.9)
        new.add_step(t, spikes, events)
        old.add_step(t, spikes, events)
    _assert_same(new, old)


def test_every_neuron_firing_gives_each_core_its_neurons_and_synapses_every_step(bundles):
    """All spikes and every input non-zero: a core's spikes are its neurons, its synops the synapses into it
    (enof.synapses.fan_out summed over the incoming sources), for every sample alike (maxima = sums / B)."""
    from enof.synapses import fan_out

    bundle = bundles["digits-loihi2"]
    program, cores = bundle.program, bundle.placement.cores
    recorder, batch = StepRecorder(program, cores), 5
    ones = {n: np.ones((batch, *layer.shape), np.float32) for n, layer in program.layers.items()}
    recorder.add_step(0, ones, np.ones((batch, *program.input_shape), bool))
    synapses_into = {n: sum(int(fan_out(s.connection).sum()) for s in program.incoming(n)) for n in program.layers}
    for i, core in enumerate(cores):
        assert recorder.maxima["spikes"][i, 0] == core.neurons
        assert recorder.sums["spikes"][i, 0] == batch * core.neurons
    per_layer = {n: sum(recorder.maxima["synops"][i, 0] for i, c in enumerate(cores) if c.layer == n) for n in program.layers}
    assert per_layer == synapses_into and min(per_layer.values()) > 0
    assert recorder.sums["messages_in"][:, 0].sum() == recorder.sums["messages_out"][:, 0].sum() > 0


def test_a_cores_neurons_are_read_as_a_range_a_box_or_else_their_indices():
    from enof.formats.placement import box_indices
    from enof.runtime.step_activity import _region

    shape = (3, 4, 5)
    values = np.arange(2 * 60).reshape(2, 60)  # two samples of a (3, 4, 5) layer

    def read(region):
        return values.reshape(2, *region.view)[(slice(None), *region.index)].reshape(2, -1).sum(axis=1)

    ranged = _region(7, np.arange(13, 29), shape)  # a flat range across channels: no box
    assert ranged.column == 7 and ranged.index == (slice(13, 29),)
    boxed = _region(0, box_indices(((1, 3), (2, 5), (0, 2)), shape), shape)  # rows 1-2, columns 2-4, channels 0-1
    assert boxed.view == shape and boxed.index == (slice(0, 2), slice(1, 3), slice(2, 5))
    scattered = np.array([0, 7, 31, 59])
    loose = _region(1, scattered, shape)
    assert np.array_equal(loose.index[0], scattered)
    for region, flat in ((ranged, np.arange(13, 29)), (boxed, box_indices(((1, 3), (2, 5), (0, 2)), shape)),
                         (loose, scattered)):
        assert np.array_equal(read(region), values[:, flat].sum(axis=1))
