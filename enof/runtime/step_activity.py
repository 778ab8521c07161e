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

from enof.formats.fixed_point import FLOAT32_EXACT
from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.formats.run_result import STEP_FIELDS, CoreSteps
from enof.synapses import fan_in_events_batch, positions, reach
from enof.runtime.program import INPUT, ChipProgram


@dataclass(frozen=True)
class _Region:
    """Where one core's neurons sit in a layer's (B, neurons) values: ``values.reshape(B, *view)[(:, *index)]``."""

    column: int  # the core's placement column
    view: tuple[int, ...]  # the layer's shape (a box), or (neurons,) (a range, or the flat indices themselves)
    index: tuple  # slices over ``view`` (no copy), or one array of flat indices


def _region(column: int, indices: np.ndarray, shape: tuple[int, ...]) -> _Region:
    """A core's neurons (flat torch indices) as a range of the flat layer, a box of the shaped layer, or neither."""
    flat, neurons = np.sort(indices), int(np.prod(shape))
    if len(flat) == 0:
        return _Region(column, (neurons,), (slice(0, 0),))
    if flat[-1] - flat[0] + 1 == len(flat):
        return _Region(column, (neurons,), (slice(int(flat[0]), int(flat[-1]) + 1),))
    coords = np.unravel_index(flat, shape)
    low, high = [int(c.min()) for c in coords], [int(c.max()) + 1 for c in coords]
    if int(np.prod(np.subtract(high, low))) == len(flat):  # distinct indices filling their bounding box: that box
        return _Region(column, tuple(shape), tuple(slice(a, b) for a, b in zip(low, high)))
    return _Region(column, (neurons,), (flat,))


@dataclass(frozen=True)
class _Sums:
    """Per-core sums of a layer's per-neuron values (B, neurons), exact either way: a float32 product with
    ``matrix`` (neurons, cores), its 0/1 neuron → core matrix (or that times a weight per neuron), where the
    largest possible total fits float32; else each core's box summed in the values' own dtype."""

    columns: np.ndarray  # (cores,) the layer's cores' placement columns
    regions: list[_Region]
    weight: np.ndarray | None  # (neurons,) float64 integers each value is multiplied by; None: 1
    matrix: np.ndarray | None  # None: too large to hold (MATRIX_VALUES), the boxes' sums instead
    column_max: float  # the largest column sum of the matrix: a total is at most the values' peak times this

    def add(self, total: np.ndarray, values: np.ndarray, peak: float | None = None) -> None:
        """total[:, core] += Σ of each sample's values (times the weight) over the core's neurons: non-negative
        integers, at most ``peak`` (None: read off the values)."""
        if self.matrix is not None and len(values):
            peak = float(values.max()) if peak is None else peak
            if peak * self.column_max < FLOAT32_EXACT:  # every partial sum an integer below 2^24: exact in any order
                total[:, self.columns] += values.astype(np.float32, copy=False) @ self.matrix
                return
        if self.weight is not None:
            values = values * self.weight  # float64 products of integers: exact
        batch = len(values)
        for region in self.regions:
            part = values.reshape(batch, *region.view)[(slice(None), *region.index)]
            total[:, region.column] += part.sum(axis=tuple(range(1, part.ndim)))  # exact: int64, or 0/1 floats


def _layer_sums(regions: list[_Region], indices: list[np.ndarray], neurons: int, weight: np.ndarray | None,
                matrix_values: int) -> _Sums:
    """A layer's _Sums: its cores' neurons (``indices``, one array per region), each weighted by ``weight`` (None: 1)."""
    columns = np.array([r.column for r in regions], np.int64)
    if neurons * len(regions) > matrix_values:
        return _Sums(columns, regions, weight, None, 0.0)
    matrix = np.zeros((neurons, len(regions)), np.float32)
    for j, flat in enumerate(indices):
        matrix[flat, j] = 1.0 if weight is None else weight[flat]
    column_max = float(matrix.sum(axis=0, dtype=np.float64).max(initial=0.0))
    return _Sums(columns, regions, weight, matrix if column_max < FLOAT32_EXACT else None, column_max)


@dataclass(frozen=True)
class _Outgoing:
    """Where a layer's spikes go: per source position the destination cores (``cores``, placement columns)."""

    cores: np.ndarray  # (destinations,) columns of the cores of the layers it feeds
    hit: np.ndarray  # (positions, destinations) float64 0/1: a neuron at that position sends a message there
    per_spike: np.ndarray  # (neurons,) messages one spike of each neuron sends (flat n at n % positions)


class StepRecorder:
    """Accumulates per-core, per-step counts over batches of one program on one placement.

    A step is reduced to per-core counts for a chunk of samples at once, with the same integers the per-sample
    bincount of earlier versions gave (tests/runtime/test_step_activity.py): per layer, its spikes, the events
    arriving at its neurons (``fan_in_events_batch``) and its messages are summed per core by one float32 matrix
    product with the layer's neuron → core matrix where every total stays below 2^24, else over each core's box
    of the layer (a conv core's channels × rows × columns, a dense core's range). What recording holds beyond the
    backends' own spikes is a few (chunk, neurons) arrays, ``chunk`` samples of at most ``CHUNK_VALUES`` values."""

    CHUNK_VALUES = 1 << 21  # values per (chunk, neurons) array: 16 MiB in int64 or float64
    MATRIX_VALUES = 1 << 22  # entries of a layer's float32 neuron → core matrix (16 MiB); larger: box sums

    def __init__(self, program: ChipProgram, cores: Sequence[PlacedCore]):
        self.program = program
        self.cores = list(cores)
        n_cores, steps = len(self.cores), program.timesteps
        self._column: dict[str, np.ndarray] = {}  # placement column of each neuron (flat torch index); n_cores: none
        owned: dict[str, tuple[list[_Region], list[np.ndarray]]] = {}  # per layer: its cores' boxes and neurons
        for name, layer in program.layers.items():
            column = np.full(layer.neurons, n_cores, np.int64)
            owned[name] = ([], [])
            for i, core in enumerate(self.cores):
                if core.layer == name:
                    indices = core_neuron_indices(core, layer.shape)
                    column[indices] = i
                    owned[name][0].append(_region(i, indices, layer.shape))
                    owned[name][1].append(indices)
            self._column[name] = column
        self._outgoing = {name: out for name in program.layers if (out := self._outgoing_of(name)) is not None}
        neurons = {name: layer.neurons for name, layer in program.layers.items()}
        self._sums = {name: _layer_sums(*owned[name], neurons[name], None, self.MATRIX_VALUES) for name in owned}
        self._sent = {name: _layer_sums(*owned[name], neurons[name], out.per_spike, self.MATRIX_VALUES)
                      for name, out in self._outgoing.items()}  # fmt: skip
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
        """Step ``t`` of a batch: per layer its spikes (B, *shape) 0/1 (numpy, or a CPU tensor's numpy view; the
        float32 products' bound counts on 0/1), and the input's non-zero values (B, *input_shape) bool."""
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
        for name, sums in self._sums.items():
            fired = np.asarray(spikes[name]).reshape(batch, -1)
            sums.add(per["spikes"], fired, peak=1.0)  # spikes are 0/1
            arriving = None
            for syn in self.program.incoming(name):
                events = fan_in_events_batch(syn.connection, input_events if syn.source == INPUT else spikes[syn.source])
                arriving = events if arriving is None else np.add(arriving, events, out=arriving)
            if arriving is not None:
                sums.add(per["synops"], arriving.reshape(batch, -1))
            out = self._outgoing.get(name)
            if out is not None:
                self._sent[name].add(per["messages_out"], fired, peak=1.0)
                # n sits at n % positions; a position's count (≤ channels) is exact in the spikes' float32
                by_position = fired.reshape(batch, -1, len(out.hit)).sum(axis=1)
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


