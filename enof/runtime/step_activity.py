"""Per core and timestep: what the chip's time model needs (docs/run-json.md "per_step", docs/chip-time.md).

For every placed core and every timestep t of a sample, summed over the samples and as the maximum over them:
- ``spikes``: spikes its neurons emitted;
- ``synops``: synaptic events arriving at its neurons (``enof.geometry.fan_in_events`` of each incoming synapse;
  input values from the host count once per connection, as run.json's totals do);
- ``messages_out``: spike messages its neurons sent: one per (spiking neuron, destination core holding at least
  one neuron it connects to), as Loihi's axon-out and SANA-FE count them; spikes to the host are not messages;
- ``messages_in``: spike messages that arrived at it (the same messages, counted at their destination).

Exact integers from the per-step spike rasters of a batch; a batch adds its sums and raises the maxima, so
shards and batches combine in any order. Σ_t spikes and Σ_t synops equal the core's run totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.formats.run_result import STEP_FIELDS, CoreSteps
from enof.geometry import fan_in_events, positions, reach
from enof.runtime.program import INPUT, ChipProgram


def _batched_fan_in(conn, events: np.ndarray) -> np.ndarray:
    """fan_in_events for a batch: (B, *source) → (B, target neurons) int64."""
    return np.stack([fan_in_events(conn, e).reshape(-1) for e in events]) if len(events) else np.zeros(
        (0, int(np.prod(conn.target_shape))), np.int64)


@dataclass
class _Layer:
    core_columns: np.ndarray  # placed-core column of each neuron (flat torch index)
    onehot: sparse.csr_matrix  # (neurons, cores): neuron → its core


class StepRecorder:
    """Accumulates per-core, per-step counts over batches of one program on one placement."""

    def __init__(self, program: ChipProgram, cores: Sequence[PlacedCore]):
        self.program = program
        self.cores = list(cores)
        n_cores, steps = len(self.cores), program.timesteps
        self._layers: dict[str, _Layer] = {}
        for name, layer in program.layers.items():
            column = np.full(layer.neurons, -1, np.int64)
            for i, core in enumerate(self.cores):
                if core.layer == name:
                    column[core_neuron_indices(core, layer.shape)] = i
            if (column < 0).any():  # a layer the placement does not hold: its counts go nowhere
                column[column < 0] = n_cores
            onehot = sparse.csr_matrix((np.ones(layer.neurons), (np.arange(layer.neurons), column)),
                                       shape=(layer.neurons, n_cores + 1))[:, :n_cores]
            self._layers[name] = _Layer(column, onehot.tocsr())
        # reach[name]: (source positions, cores) 0/1: a neuron at that position sends a message to that core
        self._reach: dict[str, sparse.csr_matrix] = {}
        for name, layer in program.layers.items():
            outgoing = [s for s in program.synapses if s.source == name]
            if not outgoing:
                continue
            groups = positions(layer.shape)
            hit = np.zeros((groups, n_cores), bool)
            for syn in outgoing:
                column = self._layers[syn.target].core_columns
                for position, targets in reach(program.connection(syn)):
                    cols = np.unique(column[targets])
                    hit[position, cols[cols < n_cores]] = True
            self._reach[name] = sparse.csr_matrix(hit.astype(np.float64))
        self.sums = {f: np.zeros((n_cores, steps), np.int64) for f in STEP_FIELDS}
        self.maxima = {f: np.zeros((n_cores, steps), np.int64) for f in STEP_FIELDS}

    def add_step(self, t: int, spikes: dict[str, np.ndarray], input_events: np.ndarray) -> None:
        """Step ``t`` of a batch: per layer its spikes (B, *shape) 0/1, and the input's non-zero values (B, *input)."""
        batch = len(input_events)
        n_cores = len(self.cores)
        per = {f: np.zeros((batch, n_cores), np.int64) for f in STEP_FIELDS}
        for name, layer in self._layers.items():
            flat = np.asarray(spikes[name]).reshape(batch, -1).astype(np.float64)
            per["spikes"] += _exact(flat @ layer.onehot)
            arriving = np.zeros((batch, layer.onehot.shape[0]), np.int64)
            for syn in self.program.incoming(name):
                pre = input_events if syn.source == INPUT else spikes[syn.source]
                arriving += _batched_fan_in(self.program.connection(syn), np.asarray(pre, np.int64))
            per["synops"] += _exact(arriving.astype(np.float64) @ layer.onehot)
            if name in self._reach:
                shape = self.program.layers[name].shape  # (N,): one position, every neuron at it
                by_position = flat.reshape(batch, shape[0], -1).sum(axis=1) if len(shape) == 3 else flat.sum(
                    axis=1, keepdims=True)
                reach_m = self._reach[name]
                per["messages_in"] += _exact(by_position @ reach_m)
                dests = np.asarray(reach_m.sum(axis=1)).ravel()  # destination cores of a neuron at each position
                per_neuron = flat * np.tile(dests, flat.shape[1] // len(dests))[None, :]
                per["messages_out"] += _exact(per_neuron @ layer.onehot)
        for f in STEP_FIELDS:
            self.sums[f][:, t] += per[f].sum(axis=0)
            np.maximum(self.maxima[f][:, t], per[f].max(axis=0, initial=0), out=self.maxima[f][:, t])

    def add_batch(self, spikes: dict[str, np.ndarray], source: np.ndarray) -> None:
        """A batch's rasters (T, B, *shape) per layer and the chip's input as the backends send it
        (``ChipProgram.chip_source``: (B, *sample_shape), a temporal sample's frame t at [:, t])."""
        nonzero = (np.asarray(source) != 0).astype(np.int64)
        for t in range(self.program.timesteps):
            events = nonzero[:, t] if self.program.input_temporal else nonzero
            self.add_step(t, {n: s[t] for n, s in spikes.items()}, events)

    def merge_counts(self, sums: dict[str, np.ndarray], maxima: dict[str, np.ndarray]) -> None:
        """Add another recorder's ``sums`` and raise to its ``maxima`` (a shard's, a batch's)."""
        for f in STEP_FIELDS:
            self.sums[f] += sums[f]
            np.maximum(self.maxima[f], maxima[f], out=self.maxima[f])

    def core_steps(self) -> list[CoreSteps]:
        """One CoreSteps per placed core, in placement order."""
        return [
            CoreSteps(core_id=core.core_id, **{f: self.sums[f][i].tolist() for f in STEP_FIELDS},
                      **{f"{f}_max": self.maxima[f][i].tolist() for f in STEP_FIELDS})
            for i, core in enumerate(self.cores)
        ]  # fmt: skip


def _exact(product) -> np.ndarray:
    """A float64 product of integer counts back to int64 (exact below 2^53)."""
    return np.rint(np.asarray(product)).astype(np.int64)
