"""Per core and timestep: what the chip's time model needs (docs/run-json.md "per_step", docs/chip-time.md).

For every placed core and every timestep t of a sample, summed over the samples and as the maximum over them:
- ``spikes``: spikes its neurons emitted;
- ``synops``: synaptic events arriving at its neurons (``enof.synapses.fan_in_events`` of each incoming synapse;
  input values from the host count once per connection, as run.json's totals do);
- ``messages_out``: spike messages its neurons sent: one per (spiking neuron, destination core holding at least
  one neuron it connects to), as Loihi's axon-out and SANA-FE count them; spikes to the host are not messages;
- ``messages_in``: spike messages that arrived at it (the same messages, counted at their destination).

Exact integers from each step's spikes as the backends hand them over (the built-in simulator step by step, Lava
from its rasters); a batch adds its sums and raises the maxima, so shards and batches combine in any order. Σ_t spikes and Σ_t synops equal the core's run totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.formats.run_result import STEP_FIELDS, CoreSteps
from enof.synapses import fan_in_events, positions, reach
from enof.runtime.program import INPUT, ChipProgram


@dataclass(frozen=True)
class _Outgoing:
    """Where a layer's spikes go: per source position the destination cores (``cores``, placement columns)."""

    cores: np.ndarray  # (destinations,) columns of the cores of the layers it feeds
    hit: np.ndarray  # (positions, destinations) float64 0/1: a neuron at that position sends a message there
    per_spike: np.ndarray  # (neurons,) messages one spike of each neuron sends (flat n at n % positions)


class StepRecorder:
    """Accumulates per-core, per-step counts over batches of one program on one placement.

    Each sample's step is reduced to per-core counts at once (``np.bincount`` over a neuron → core column), so
    what recording holds beyond the backends' own spikes is a few vectors of one sample's neurons."""

    def __init__(self, program: ChipProgram, cores: Sequence[PlacedCore]):
        self.program = program
        self.cores = list(cores)
        n_cores, steps = len(self.cores), program.timesteps
        self._column: dict[str, np.ndarray] = {}  # placement column of each neuron (flat torch index); n_cores: none
        for name, layer in program.layers.items():
            column = np.full(layer.neurons, n_cores, np.int64)
            for i, core in enumerate(self.cores):
                if core.layer == name:
                    column[core_neuron_indices(core, layer.shape)] = i
            self._column[name] = column
        self._outgoing: dict[str, _Outgoing] = {}
        for name, layer in program.layers.items():
            outgoing = [s for s in program.synapses if s.source == name]
            if not outgoing:
                continue
            targets_of = {s.target for s in outgoing}
            cols = np.array([i for i, c in enumerate(self.cores) if c.layer in targets_of], np.int64)
            index = np.full(n_cores + 1, -1, np.int64)
            index[cols] = np.arange(len(cols))
            groups = positions(layer.shape)
            hit = np.zeros((groups, len(cols)))
            for syn in outgoing:
                for position, targets in reach(syn.connection):
                    reached = index[np.unique(self._column[syn.target][targets])]
                    hit[position, reached[reached >= 0]] = 1.0
            self._outgoing[name] = _Outgoing(cols, hit, np.tile(hit.sum(axis=1), layer.neurons // groups))
        self.sums = {f: np.zeros((n_cores, steps), np.int64) for f in STEP_FIELDS}
        self.maxima = {f: np.zeros((n_cores, steps), np.int64) for f in STEP_FIELDS}

    def add_step(self, t: int, spikes: dict[str, np.ndarray], input_events: np.ndarray) -> None:
        """Step ``t`` of a batch: per layer its spikes (B, *shape) 0/1 (numpy, or a CPU tensor's numpy view), and
        the input's non-zero values (B, *input_shape)."""
        n_cores = len(self.cores)
        for b in range(len(input_events)):
            per = {f: np.zeros(n_cores + 1) for f in STEP_FIELDS}
            for name, column in self._column.items():
                fired = np.asarray(spikes[name][b], np.float64).reshape(-1)
                per["spikes"] += np.bincount(column, fired, n_cores + 1)
                arriving = sum(fan_in_events(syn.connection, np.asarray(
                    input_events[b] if syn.source == INPUT else spikes[syn.source][b], np.int64))
                    for syn in self.program.incoming(name))  # fmt: skip
                per["synops"] += np.bincount(column, np.asarray(arriving, np.float64).reshape(-1), n_cores + 1)
                out = self._outgoing.get(name)
                if out is not None:
                    per["messages_out"] += np.bincount(column, fired * out.per_spike, n_cores + 1)
                    by_position = fired.reshape(-1, len(out.hit)).sum(axis=0)  # flat n sits at n % positions
                    per["messages_in"][out.cores] += by_position @ out.hit
            for f in STEP_FIELDS:
                counts = np.rint(per[f][:n_cores]).astype(np.int64)  # float64 sums of integers: exact below 2^53
                self.sums[f][:, t] += counts
                np.maximum(self.maxima[f][:, t], counts, out=self.maxima[f][:, t])

    def add_batch(self, spikes: dict[str, np.ndarray], input_events: np.ndarray) -> None:
        """A batch's rasters (T, B, *shape) per layer and the chip input's non-zero values (B, *sample_shape): a
        temporal sample's frame t at [:, t]."""
        for t in range(self.program.timesteps):
            events = input_events[:, t] if self.program.input_temporal else input_events
            self.add_step(t, {n: s[t] for n, s in spikes.items()}, events)

    def core_steps(self) -> list[CoreSteps]:
        """One CoreSteps per placed core, in placement order."""
        return core_steps(self.cores, self.sums, self.maxima)


def core_steps(cores: Sequence[PlacedCore], sums: dict[str, np.ndarray], maxima: dict[str, np.ndarray]) -> list[CoreSteps]:
    """run.json's per_step from (cores, T) sums and maxima in placement order (StepRecorder's, or shards' combined)."""
    return [
        CoreSteps(core_id=core.core_id, **{f: sums[f][i].tolist() for f in STEP_FIELDS},
                  **{f"{f}_max": maxima[f][i].tolist() for f in STEP_FIELDS})
        for i, core in enumerate(cores)
    ]  # fmt: skip


