"""Lava and the built-in simulator on temporal (event-frame) input: a new frame every step, same spikes.

One real Lava worker launch per test (~2 s), on the small residual/strided/dense random program.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from enof.runtime.fast import simulate
from enof.runtime.lava.backend import run_lava


@pytest.mark.parametrize("input_mode", ["graded", "spikes"])
def test_lava_fixed_pt_equals_fast_fixed_on_event_frames_a_new_frame_every_step(random_program, input_mode):
    """Tolerance: none. Both run Lava's fixed-point integers; the RingBuffer sends frame t of each sample at
    its step t, the simulator takes x[:, t]; every spike, count and input event must agree. Spikes (Loihi 1):
    counts 1..4 are clipped to one spike, which Lava's synapses take as binary (num_message_bits 0)."""
    program = dataclasses.replace(random_program(input_mode, seed=8, timesteps=5), input_temporal=True)
    rng = np.random.default_rng(8)
    shape = (3, program.timesteps, *program.input_shape)
    counts = rng.integers(1, 5, shape) / (4 if input_mode == "graded" else 1)
    frames = np.where(rng.random(shape) < 0.6, 0, counts).astype(np.float32)
    lava_run = run_lava(program, frames, "fixed", timeout_s=120)
    fast_run = simulate(program, frames, "fixed")
    for name in program.outputs:
        np.testing.assert_array_equal(lava_run.outputs[name], fast_run.outputs[name], err_msg=name)
    for name in program.layers:
        np.testing.assert_array_equal(lava_run.spike_counts[name], fast_run.spike_counts[name], err_msg=name)
        rate = fast_run.spike_counts[name].sum() / (program.layers[name].neurons * program.timesteps * len(frames))
        assert 0.02 < rate < 0.9, (name, rate)  # not vacuous: every layer fires, not everywhere
    np.testing.assert_array_equal(lava_run.input_nonzero, (frames != 0).sum(axis=(0, 1)))
    np.testing.assert_array_equal(lava_run.input_nonzero, fast_run.input_nonzero)
