"""How long a Lava run will take, said before it starts: from the network's size and Lava's measured speed.

Lava 0.10's CPU models compute every synapse of a layer at every step whether or not spikes arrive: its Conv
runs ``conv_scipy`` (one ``scipy.signal.convolve2d`` per output × input channel pair over the whole padded input
at stride 1, subsampled after) and its Sparse touches every stored weight. So a step costs the multiply-accumulates
Lava really does (``lava_macs_per_step``) plus a per-process overhead of its message passing, and each run pays
compile and start-up once. A run of B samples takes B·T + depth Lava steps (the samples are pipelined; ``depth``
is the longest synaptic path). The constants are fitted in docs/benchmarks/lava-speed.md
(``benchmarks/lava_speed.py``: digits_cnn widths 8 and 32, mnist_cnn widths 8, 16 and 32 in Lava fixed point;
grade: measured on this project's 2-core development machine, loaded by other agents' work — load average 3 to 5
— so a quiet or faster machine runs faster):

- ``LAVA_S_PER_MAC`` 1.9e-8 s and ``LAVA_S_PER_PROCESS_STEP`` 1.9e-3 s: the least-squares fit of
  step = a · processes + b · Lava MACs (relative residuals) over the five networks and issue 27's ResNet20 run
  (enof's resnet20 at CIFAR shape: 45 processes, 416.8 M Lava MACs, about 6.5 s per step; 8.0 s estimated), the
  one many-MAC point. The two runs fitted this way gave 1.5e-8 and 1.9e-8 s per MAC, 1.7e-3 and 1.9e-3 s per
  process step; the committed table's rows lie 0.74× to 1.87× of these constants (0.4× to 2.3× over four runs,
  as the load moved). A per-call term for scipy's ``convolve2d`` (1.14 M calls a ResNet20 step) fitted to 0.
- ``LAVA_START_S`` 1.0 s: compile and start of one run, the geometric middle of what was measured: 0.5 to 2.0 s in
  the tables' ``compile + start``, 0.3 s on a quieter moment (tests/runtime/test_lava_estimate.py) and 1.9 to 2.8 s
  in the digits runs the first estimate was made from.

The estimate is a guide (a factor of two either way is usual on a shared machine), printed with the advice that
matters more: the built-in simulator gives the same spikes (tested bit for bit) in a small fraction of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from enof.runtime.program import ChipProgram
from enof.runtime.run_progress import clock
from enof.synapses import KINDS

LAVA_S_PER_MAC = 1.9e-8
LAVA_S_PER_PROCESS_STEP = 1.9e-3
LAVA_START_S = 1.0
SAMPLES_PER_RUN = 256  # enof.runtime.lava.backend.DEFAULT_SAMPLES_PER_RUN (not imported: that module is heavier)


@dataclass(frozen=True)
class LavaEstimate:
    """The expected wall time of a Lava run and what it rests on."""

    seconds: float
    macs_per_step: int  # multiply-accumulates of one Lava step as Lava's CPU models compute them (lava_macs_per_step)
    lava_steps: int  # Lava time steps over every run
    runs: int


def dense_macs_per_step(program: ChipProgram) -> int:
    """Multiply-accumulates of one step when every synapse is computed densely (as Lava's CPU models do): every
    source neuron's fan-out, from each synapse kind's own geometry (enof.synapses.KINDS)."""
    return int(sum(int(KINDS[syn.kind].fan_out(syn.connection).sum()) for syn in program.synapses))


def lava_macs_per_step(program: ChipProgram) -> int:
    """Multiply-accumulates Lava's CPU models do in one step. Lava 0.10's Conv runs ``conv_scipy`` (its torch path is
    switched off in lava/proc/conv/utils.py): one ``scipy.signal.convolve2d`` per (output, input) channel pair over
    the whole zero-padded input at stride 1, subsampled after, so a stride-2 conv costs 4× its own MACs; a synapse
    Lava runs as Sparse (dense, diagonal, current) touches each stored weight once."""
    total = 0
    for syn in program.synapses:
        conn = syn.connection
        if syn.runs_as != "conv":
            total += int(KINDS[syn.kind].fan_out(conn).sum())
            continue
        c_in, height, width = conn.source_shape
        (kh, kw), (ph, pw) = conn.kernel, conn.padding
        pairs = conn.target_shape[0] * (c_in // conn.groups)
        total += pairs * (height + 2 * ph - kh + 1) * (width + 2 * pw - kw + 1) * kh * kw
    return total


def lava_processes(program: ChipProgram) -> int:
    """Lava processes of one run: a LIF process per layer, one per synapse, the input source and the output reader."""
    return len(program.layers) + len(program.synapses) + 2


def lava_step_s(program: ChipProgram) -> float:
    """Seconds of one Lava step of ``program`` at the measured speed (per-process overhead plus Lava's MACs)."""
    return LAVA_S_PER_PROCESS_STEP * lava_processes(program) + LAVA_S_PER_MAC * lava_macs_per_step(program)


def estimate_lava(program: ChipProgram, samples: int, batch_size: int, workers: int = 1) -> LavaEstimate:
    """The time ``samples`` take on Lava in batches of ``batch_size``, each split over ``workers`` runs at once."""
    per_run = max(1, min(SAMPLES_PER_RUN, -(-batch_size // workers)))
    runs = -(-samples // per_run)
    depth = max(program.depths().values())
    lava_steps = samples * program.timesteps + runs * depth
    seconds = (runs * LAVA_START_S + lava_steps * lava_step_s(program)) / max(1, min(workers, runs))
    return LavaEstimate(seconds, lava_macs_per_step(program), lava_steps, runs)


def lava_estimate_line(program: ChipProgram, estimate: LavaEstimate, samples: int, timeout_s: float) -> str:
    """What a user reads before a Lava run starts (and whether --timeout will stop it first)."""
    neurons = sum(layer.neurons for layer in program.layers.values())
    return (f"lava: about {clock(estimate.seconds)} for {samples:,} samples × T = {program.timesteps} "
            f"({neurons:,} neurons, {estimate.macs_per_step / 1e6:,.1f} M multiply-accumulates per Lava step, "
            f"{estimate.lava_steps:,} steps, at this project's measured Lava speed); the built-in simulator "
            "(--backend fast) gives the same spikes in a fraction of that: use Lava to check a few samples "
            "(--limit), the built-in simulator for whole data sets"
            + (f"; that is more than --timeout {timeout_s:g} s, which will stop the run unless raised"
               if estimate.seconds > timeout_s else ""))
