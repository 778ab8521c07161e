"""How long a Lava run will take, said before it starts: from the network's size and Lava's measured speed.

Lava 0.10's CPU models compute every synapse of a layer at every step whether or not spikes arrive (its
PyConvModelFixed convolves the whole input each step), so a step costs about the synaptic operations of a
dense step (every source neuron's fan-out: the multiply-accumulates of the weights over the input) plus a small per-process overhead of
its message passing, and each run pays compile and start-up once. A run of B samples takes B·T + depth Lava
steps (the samples are pipelined; ``depth`` is the longest synaptic path). The constants are this project's
measurements on its 2-core development machine (grade: measured, one machine; a faster CPU divides them):

- ``LAVA_S_PER_MAC`` 2.6e-8 s: ResNet20 on fake CIFAR, 246.6 M dense MACs per step, ran at about 6.5 s per
  Lava step (issue 27's report; the run this estimate was made for).
- ``LAVA_S_PER_PROCESS_STEP`` 2e-3 s: the digits bundle (5 Lava processes, 23 k MACs per step) ran at 11 ms per
  step under load (benchmarks: ``run_lava_timed``'s ``ms_per_step``).
- ``LAVA_START_S`` 2 s: compile and start of one run (the same runs' ``compile_s + start_s``: 1.9 to 2.8 s).

The estimate is a guide (a factor of two either way is usual), printed with the advice that matters more: the
built-in simulator gives the same spikes (tested bit for bit) in a small fraction of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from enof.runtime.program import ChipProgram
from enof.synapses import KINDS

LAVA_S_PER_MAC = 2.6e-8
LAVA_S_PER_PROCESS_STEP = 2e-3
LAVA_START_S = 2.0
SAMPLES_PER_RUN = 256  # enof.runtime.lava.backend.DEFAULT_SAMPLES_PER_RUN (not imported: that module is heavier)


@dataclass(frozen=True)
class LavaEstimate:
    """The expected wall time of a Lava run and what it rests on."""

    seconds: float
    macs_per_step: int  # dense multiply-accumulates of one Lava step over every synapse of the program
    lava_steps: int  # Lava time steps over every run
    runs: int


def dense_macs_per_step(program: ChipProgram) -> int:
    """Multiply-accumulates of one step when every synapse is computed densely (as Lava's CPU models do): every
    source neuron's fan-out, from each synapse kind's own geometry (enof.synapses.KINDS)."""
    return int(sum(int(KINDS[syn.kind].fan_out(syn.connection).sum()) for syn in program.synapses))


def estimate_lava(program: ChipProgram, samples: int, batch_size: int, workers: int = 1) -> LavaEstimate:
    """The time ``samples`` take on Lava in batches of ``batch_size``, each split over ``workers`` runs at once."""
    per_run = max(1, min(SAMPLES_PER_RUN, -(-batch_size // workers)))
    runs = -(-samples // per_run)
    depth = max(program.depths().values())
    lava_steps = samples * program.timesteps + runs * depth
    processes = len(program.layers) + len(program.synapses) + 2  # plus the input source and the output reader
    macs = dense_macs_per_step(program)
    step_s = LAVA_S_PER_PROCESS_STEP * processes + LAVA_S_PER_MAC * macs
    seconds = (runs * LAVA_START_S + lava_steps * step_s) / max(1, min(workers, runs))
    return LavaEstimate(seconds, macs, lava_steps, runs)


def lava_estimate_line(program: ChipProgram, estimate: LavaEstimate, samples: int, timeout_s: float) -> str:
    """What a user reads before a Lava run starts (and whether --timeout will stop it first)."""
    from enof.runtime.run_progress import clock

    neurons = sum(layer.neurons for layer in program.layers.values())
    return (f"lava: about {clock(estimate.seconds)} for {samples:,} samples × T = {program.timesteps} "
            f"({neurons:,} neurons, {estimate.macs_per_step / 1e6:,.1f} M synaptic MACs per Lava step, "
            f"{estimate.lava_steps:,} steps, at this project's measured Lava speed); the built-in simulator "
            "(--backend fast) gives the same spikes in a fraction of that: use Lava to check a few samples "
            "(--limit), the built-in simulator for whole data sets"
            + (f"; that is more than --timeout {timeout_s:g} s, which will stop the run unless raised"
               if estimate.seconds > timeout_s else ""))
