"""The chip's time per inference from run.json's per-step counts and a profile's [timing] (docs/chip-time.md).

The structure of SANA-FE's timing (Boyle et al. 2025): within a step every core runs a *neuron phase*
(every neuron updated, each spike, each message sent) and a *message phase* (each message that arrives,
each synaptic event it causes); a core takes the longer of the two; the step lasts as long as its slowest
core, plus the longest mesh route a message took, plus the barrier that ends the step (by tiles in use),
or as long as the step's host I/O (input sent, output spikes read) when that is longer.

Loihi's synapses deliver one step later (Lava adds one step per synapse): a LIF at synaptic depth d (its
first layer 1) updates for sample step t at wall step t + d, and the messages it integrates then arrive at
wall step t + d − 1. One sample alone therefore takes T + D wall steps (D the deepest layer's depth: the
pipeline's fill). Samples streamed back to back keep every layer busy: T wall steps per sample, layer d
working at wall step k on its sample's step (k − d) mod T. Reset between samples is not modeled.

Counts per step are means over the run's samples ("typical": by Jensen's inequality a lower bound on the
mean step time, since a step is a maximum over cores) or the maxima over samples (an upper bound on any
one sample's step). A run of one sample gives the exact figure for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from enof.formats.placement import PlacedCore
from enof.formats.run_result import CoreSteps, HostCost
from enof.hardware_profiles import TimingSection
from enof.runtime.energy.routing import CoreRoute, MeshGeometry, global_tile

NS_PER_S = 1e9
NS_PER_US = 1e3
Counts = Literal["mean", "max"]
Schedule = Literal["alone", "stream"]
PHASES = ("neuron", "message", "mesh", "barrier", "io")


@dataclass(frozen=True)
class StepTime:
    """One wall step: its length and what set it (ns)."""

    step_ns: float
    compute_ns: float  # the slowest core's phase
    mesh_ns: float
    barrier_ns: float
    io_ns: float
    pacing_core: int | None  # core id of the slowest core (None: no core)
    pacing_layer: str | None
    pacing_phase: Literal["neuron", "message"] | None

    @property
    def io_bound(self) -> bool:
        return self.io_ns > self.compute_ns + self.mesh_ns + self.barrier_ns

    @property
    def step_s(self) -> float:
        return self.step_ns / NS_PER_S

    @property
    def compute_s(self) -> float:
        return self.compute_ns / NS_PER_S

    @property
    def mesh_s(self) -> float:
        return self.mesh_ns / NS_PER_S

    @property
    def barrier_s(self) -> float:
        return self.barrier_ns / NS_PER_S

    @property
    def io_s(self) -> float:
        return self.io_ns / NS_PER_S


@dataclass(frozen=True)
class ChipTime:
    """Latency of one sample alone and the period of samples streamed back to back, with the steps behind them."""

    counts: Counts
    latency_s: float
    period_s: float  # wall time per inference when streamed: 1 / inferences_per_s
    alone: tuple[StepTime, ...]  # T + D wall steps
    stream: tuple[StepTime, ...]  # T wall steps of the steady state
    fill_steps: int  # D
    given_step_us: float | None = None  # --timestep-us: the step time was given, not modeled

    @property
    def inferences_per_s(self) -> float:
        return 1.0 / self.period_s if self.period_s > 0 else float("inf")

    def time_by_phase_s(self, schedule: Schedule = "stream") -> dict[str, float]:
        """Where the time of a schedule goes: the pacing core's neuron or message phase, mesh, barrier, and the
        part of I/O-bound steps that I/O adds beyond compute."""
        out = dict.fromkeys(PHASES, 0.0)
        for step in self.alone if schedule == "alone" else self.stream:
            if step.io_bound:
                out["io"] += step.step_ns / NS_PER_S
                continue
            if step.pacing_phase is not None:
                out[step.pacing_phase] += step.compute_ns / NS_PER_S
            out["mesh"] += step.mesh_ns / NS_PER_S
            out["barrier"] += step.barrier_ns / NS_PER_S
        return out


@dataclass(frozen=True)
class CoreTimingInputs:
    """What the model needs of one placed core: where it is, its layer's depth, neurons, and routes."""

    core_id: int
    layer: str
    depth: int
    neurons: int
    tile: tuple[int, int, int]  # (chip, x, y)
    longest_route_ns: float  # the farthest destination of its messages, in mesh latency


def longest_routes_ns(routes: dict[int, CoreRoute], placement: list[PlacedCore], mesh: MeshGeometry,
                      timing: TimingSection) -> dict[int, float]:
    """Per core: the mesh latency to the farthest core its spikes go to (chips continue the mesh of tiles)."""
    where = {c.core_id: global_tile(c, mesh) for c in placement}
    ew, ns = float(timing.hop_ew_ns.value), float(timing.hop_ns_ns.value)
    out = {}
    for core_id, route in routes.items():
        x, y = where[core_id]
        out[core_id] = max((abs(where[d][0] - x) * ew + abs(where[d][1] - y) * ns for d in route.destinations),
                           default=0.0)
    return out


def chip_time(
    cores: list[CoreTimingInputs], steps: list[CoreSteps], samples: int, timesteps: int, host: HostCost,
    timing: TimingSection, counts: Counts = "mean", given_step_us: float | None = None, replay: bool = False,
    input_every_step: bool = True,
) -> ChipTime:
    """Latency (one sample alone) and period (streamed) per inference under ``timing``. ``replay``: every layer
    at the same sample step in each wall step (recorded spikes replayed as SANA-FE does, no pipeline): T steps.
    ``input_every_step``: the host's input bytes are spread over the T steps (event frames); else they cross
    the link once, in a sample's first step (a static image held in the input neurons' biases)."""
    fill = max((c.depth for c in cores), default=1)
    if given_step_us is not None:
        step = StepTime(given_step_us * NS_PER_US, 0.0, 0.0, 0.0, 0.0, None, None, None)
        return ChipTime(counts, (timesteps + fill) * step.step_ns / NS_PER_S, timesteps * step.step_ns / NS_PER_S,
                        (step,) * (timesteps + fill), (step,) * timesteps, fill, given_step_us)
    by_id = {s.core_id: s for s in steps}
    scale = 1.0 / samples if counts == "mean" else 1.0
    suffix = "" if counts == "mean" else "_max"

    def series(core: CoreTimingInputs, name: str) -> np.ndarray:
        return np.asarray(getattr(by_id[core.core_id], name + suffix), np.float64) * scale

    t = timing
    neuron = np.array([core.neurons * float(t.neuron_update_ns.value) for core in cores])
    # per core and sample step: neuron-phase and message-phase work (ns)
    neuron_work = np.array([float(t.spike_out_ns.value) * series(c, "spikes")
                            + float(t.message_out_ns.value) * series(c, "messages_out") for c in cores]).reshape(len(cores), timesteps)
    message_work = np.array([float(t.message_in_ns.value) * series(c, "messages_in")
                             + float(t.synop_ns.value) * series(c, "synops") for c in cores]).reshape(len(cores), timesteps)
    sending = np.array([series(c, "messages_out") > 0 for c in cores]).reshape(len(cores), timesteps)
    depth = np.array([c.depth for c in cores], np.int64)
    route = np.array([c.longest_route_ns for c in cores])
    tiles_in_use = len({c.tile for c in cores})
    barrier_ns = t.barrier(tiles_in_use) * NS_PER_US
    bytes_in_step = host.bytes_host_to_chip / (timesteps if input_every_step else 1)
    bytes_out_step = host.bytes_chip_to_host / timesteps
    io_latency_ns = float(t.host_io_latency_us.value) * NS_PER_US
    io_in_ns = bytes_in_step / float(t.host_to_chip_bytes_per_s.value) * NS_PER_S
    io_out_ns = bytes_out_step / float(t.chip_to_host_bytes_per_s.value) * NS_PER_S
    outputs_depth = fill  # the host reads the deepest layer's spikes

    def wall_step(k: int, stream: bool) -> StepTime:
        t_neuron, t_message = k - depth, k - depth + 1
        if replay:
            t_neuron = t_message = np.full(len(cores), k)
        elif stream:
            t_neuron, t_message = t_neuron % timesteps, t_message % timesteps
        rows = np.arange(len(cores))
        on_n = (t_neuron >= 0) & (t_neuron < timesteps)
        on_m = (t_message >= 0) & (t_message < timesteps)
        n_ns = neuron + np.where(on_n, neuron_work[rows, np.clip(t_neuron, 0, timesteps - 1)], 0.0)
        m_ns = np.where(on_m, message_work[rows, np.clip(t_message, 0, timesteps - 1)], 0.0)
        core_ns = np.maximum(n_ns, m_ns)
        slowest = int(np.argmax(core_ns)) if len(cores) else None
        sends = on_n & sending[rows, np.clip(t_neuron, 0, timesteps - 1)]
        mesh_ns = float(route[sends].max(initial=0.0))
        sends_input = (stream or k < timesteps) if input_every_step else k == 0
        reads_output = stream or outputs_depth <= k < timesteps + outputs_depth
        io_ns = 0.0
        if sends_input or reads_output:
            io_ns = io_latency_ns + (io_in_ns if sends_input else 0.0) + (io_out_ns if reads_output else 0.0)
        compute = float(core_ns[slowest]) if slowest is not None else 0.0
        step = max(compute + mesh_ns + barrier_ns, io_ns)
        return StepTime(
            step, compute, mesh_ns, barrier_ns, io_ns,
            None if slowest is None else cores[slowest].core_id, None if slowest is None else cores[slowest].layer,
            None if slowest is None else ("neuron" if n_ns[slowest] >= m_ns[slowest] else "message"),
        )  # fmt: skip

    alone = tuple(wall_step(k, False) for k in range(timesteps + (0 if replay else fill)))
    stream = tuple(wall_step(k, True) for k in range(timesteps))
    return ChipTime(counts, sum(s.step_ns for s in alone) / NS_PER_S, sum(s.step_ns for s in stream) / NS_PER_S,
                    alone, stream, 0 if replay else fill)
