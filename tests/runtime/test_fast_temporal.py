"""The built-in simulator on temporal (event-frame) input: frame t enters at step t."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from enof.errors import RunError
from enof.runtime.fast import simulate


def _temporal(program):
    return dataclasses.replace(program, input_temporal=True)


def _event_frames(program, batch: int, seed: int) -> np.ndarray:
    """(B, T, 2, 8, 8) event counts 0..3, sparse like binned DVS frames."""
    rng = np.random.default_rng(seed)
    shape = (batch, program.timesteps, *program.input_shape)
    return np.where(rng.random(shape) < 0.7, 0, rng.integers(1, 4, shape)).astype(np.float32)


@pytest.mark.parametrize("precision", ["fixed", "float"])
def test_temporal_input_of_repeated_frames_equals_the_static_run(random_program, random_inputs, precision):
    """Tolerance: none. The same frame at every step is static input: the per-step path and the
    computed-once input synapses give the same spikes and the same input event counts."""
    program = random_program("graded", seed=5)
    x = random_inputs(program, batch=3, seed=5)
    static = simulate(program, x, precision)
    repeated = np.repeat(x[:, None], program.timesteps, axis=1)
    temporal = simulate(_temporal(program), repeated, precision)
    for name in program.layers:
        np.testing.assert_array_equal(temporal.spike_counts[name], static.spike_counts[name], err_msg=name)
    for name in program.outputs:
        np.testing.assert_array_equal(temporal.outputs[name], static.outputs[name], err_msg=name)
    np.testing.assert_array_equal(temporal.input_nonzero, static.input_nonzero)


def test_temporal_input_counts_each_frames_events_and_changes_the_spikes(random_program):
    """input_nonzero is the number of non-zero frame values per input element over T and B (exact);
    reversing the frames in time changes the first layer's spikes at the first step (each frame is used)."""
    program = _temporal(random_program("graded", seed=6))
    frames = _event_frames(program, batch=2, seed=6)
    run = simulate(program, frames, "fixed", record_spikes=True)
    np.testing.assert_array_equal(run.input_nonzero, (frames != 0).sum(axis=(0, 1)))
    reversed_run = simulate(program, frames[:, ::-1].copy(), "fixed", record_spikes=True)
    np.testing.assert_array_equal(reversed_run.input_nonzero, run.input_nonzero)
    first = "b.0.act"
    assert not np.array_equal(run.spikes[first][0], reversed_run.spikes[first][0])


def test_temporal_program_refuses_a_static_batch(random_program, random_inputs):
    program = _temporal(random_program("graded", seed=1))
    with pytest.raises(RunError, match=r"does not match the chip input \(4, 2, 8, 8\)"):
        simulate(program, random_inputs(program, batch=2), "fixed")


def test_temporal_input_cannot_be_a_constant_current(random_program):
    with pytest.raises(ValueError, match="needs graded or spike input, not current"):
        _temporal(random_program("current", seed=1))


def test_binary_spike_input_clips_counts_to_one_spike(random_program):
    """Spikes mode (event data on Loihi 1): a count of 2 or 3 is the same one spike as a count of 1 and a
    resized count below 0.5 is none (clip(round(x), 0, 1)); the events counted are the spikes sent. Exact."""
    program = _temporal(random_program("spikes", seed=3))
    frames = _event_frames(program, batch=2, seed=3)
    binary = (frames >= 0.5).astype(np.float32)
    run = simulate(program, frames, "fixed", record_spikes=True)
    clipped = simulate(program, binary, "fixed", record_spikes=True)
    for name in program.layers:
        np.testing.assert_array_equal(run.spikes[name], clipped.spikes[name], err_msg=name)
    np.testing.assert_array_equal(run.input_nonzero, binary.sum(axis=(0, 1)))
    below_half = simulate(program, np.where(frames > 0, 0.45, 0.0).astype(np.float32), "fixed")
    assert below_half.input_nonzero.sum() == 0
    float_run = simulate(program, frames, "float")  # float takes the counts themselves: not the clipped run
    assert any(not np.array_equal(float_run.spike_counts[n], simulate(program, binary, "float").spike_counts[n])
               for n in program.layers)
