"""Per core and timestep: what the chip's time model needs (docs/run-json.md "per_step", docs/chip-time.md).

For every placed core and every timestep t of a sample, summed over the samples and as the maximum over them:
- ``spikes``: spikes its neurons emitted;
- ``synops``: synaptic events arriving at its neurons (``enof.synapses.fan_in_events_batch`` of each incoming synapse;
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
from scipy import sparse

from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.formats.run_result import STEP_FIELDS, CoreSteps
from enof.synapses import fan_in_events_batch, positions, reach
from enof.runtime.program import INPUT, ChipProgram


@dataclass(frozen=True)
class _Outgoing:
    """Where a layer's spikes go: per source position the destination cores (``cores``, placement columns)."""

    cores: np.ndarray  # (destinations,) columns of the cores of the layers it feeds
    hit: np.ndarray  # (positions, destinations) float64 0/1: a neuron at that position sends a message there
    per_spike: np.ndarray  # (neurons,) messages one spike of each neuron sends (flat n at n % positions)


class StepRecorder:
    """Accumulates per-core, per-step counts over batches of one program on one placement.

    A step is reduced to per-core counts for a chunk of samples at once: each layer's per-neuron values (B, N)
    times its 0/1 neuron → core matrix (sparse, exact in float64 below 2^53), so what recording holds beyond the
    backends' own spikes is a few (chunk, neurons) arrays, ``chunk`` samples of at most ``CHUNK_VALUES`` values."""

    CHUNK_VALUES = 1 << 21  # values per (chunk, neurons) array: 16 MiB in int64 or float64

    def __init__(self, program: ChipProgram, cores: Sequence[PlacedCore]):
        self.program = program
        self.cores = list(cores)
        n_cores, steps = len(self.cores), program.timesteps
        self._column: dict[str, np.ndarray] = {}  # placement column of each neuron (flat torch index); n_cores: none
        self._to_core: dict[str, sparse.csr_array] = {}  # (neurons, n_cores) 0/1: the core holding each neuron
        for name, layer in program.layers.items():
            column = np.full(layer.neurons, n_cores, np.int64)
            for i, core in enumerate(self.cores):
                if core.layer == name:
                    column[core_neuron_indices(core, layer.shape)] = i
            placed = np.flatnonzero(column < n_cores)
            self._column[name] = column
            self._to_core[name] = sparse.csr_array(
                (np.ones(len(placed)), (placed, column[placed])), shape=(layer.neurons, n_cores))
        self._outgoing = {name: out for name in program.layers if (out := self._outgoing_of(name)) is not None}
        largest = max((layer.neurons for layer in program.layers.values()), default=1)
        self._chunk = max(1, self.CHUNK_VALUES // max(largest, int(np.prod(program.input_shape))))
        self.sums = {f: np.zeros((n_cores, steps), np.int64) for f in STEP_FIELDS}
        self.maxima = {f: np.zeros((n_cores, steps), np.int64) for f in STEP_FIELDS}

    def _outgoing_of(self, name: str) -> _Outgoing | None:
        """Where layer ``name``'s spikes go (None: nowhere on the chip)."""
        outgoing = [s for s in self.program.synapses if s.source == name]
        if not outgoing:
            return None
        shape, n_cores = self.program.layers[name].shape, len(self.cores)
        targets_of = {s.target for s in outgoing}
        cols = np.array([i for i, c in enumerate(self.cores) if c.layer in targets_of], np.int64)
        index = np.full(n_cores + 1, -1, np.int64)
        index[cols] = np.arange(len(cols))
        groups = positions(shape)
        hit = np.zeros((groups, len(cols)))
        for syn in outgoing:
            for position, targets in reach(syn.connection):
                reached = index[np.unique(self._column[syn.target][targets])]
                hit[position, reached[reached >= 0]] = 1.0
        neurons = self.program.layers[name].neurons
        return _Outgoing(cols, hit, np.tile(hit.sum(axis=1), neurons // groups))

    def add_step(self, t: int, spikes: dict[str, np.ndarray], input_events: np.ndarray) -> None:
        """Step ``t`` of a batch: per layer its spikes (B, *shape) 0/1 (numpy, or a CPU tensor's numpy view), and
        the input's non-zero values (B, *input_shape)."""
        for first in range(0, len(input_events), self._chunk):
            chunk = slice(first, first + self._chunk)
            counts = self._count({n: s[chunk] for n, s in spikes.items()}, input_events[chunk])
            for f in STEP_FIELDS:
                self.sums[f][:, t] += counts[f].sum(axis=0)
                np.maximum(self.maxima[f][:, t], counts[f].max(axis=0), out=self.maxima[f][:, t])

    def _count(self, spikes: dict[str, np.ndarray], input_events: np.ndarray) -> dict[str, np.ndarray]:
        """Per field (B, n_cores) int64: each sample's counts of one step."""
        batch, n_cores = len(input_events), len(self.cores)
        per = {f: np.zeros((batch, n_cores)) for f in STEP_FIELDS}
        for name, to_core in self._to_core.items():
            fired = np.asarray(spikes[name], np.float64).reshape(batch, -1)
            per["spikes"] += fired @ to_core
            arriving = sum(fan_in_events_batch(syn.connection, input_events if syn.source == INPUT else spikes[syn.source])
                           for syn in self.program.incoming(name))  # fmt: skip
            per["synops"] += np.asarray(arriving, np.float64).reshape(batch, -1) @ to_core
            out = self._outgoing.get(name)
            if out is not None:
                per["messages_out"] += (fired * out.per_spike) @ to_core
                by_position = fired.reshape(batch, -1, len(out.hit)).sum(axis=1)  # flat n sits at n % positions
                per["messages_in"][:, out.cores] += by_position @ out.hit
        return {f: np.rint(v).astype(np.int64) for f, v in per.items()}  # float64 sums of integers: exact below 2^53

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


