"""What one core costs: input axons, synapse bits and output axons of a spatial tile × channel group.

A core of a (C, H, W) layer holds a box: output rows [y0, y1) × columns [x0, x1) × channels [c0, c1)
(a 1-D layer of N is (N, 1, 1): a channel range). Its cost follows nengo-loihi 1.1.0's resource model
(block.py Synapse.bits / SynapseConfig.bits_per_axon, builder/conv.py conv2d_loihi_weights,
builder/split_blocks.py), under the profile's ``conv_weight_storage`` (``STORAGES``):

- "population" (nengo-loihi, Loihi 1): one population axon per input pixel whose reach meets the box,
  the input channel travels as the spike's atom. Weight sets are shared: one per distinct key
  (kernel-row taps, kernel-column taps, compartment offset of the first target // 256), each of
  C_in · rows · cols · channels synapses, stored once per core (split_blocks.set_new_synapse_weights
  keys a set by its weights and its indices relative to a base that must stay < 256).
- "discrete": one axon per presynaptic neuron (C_in per input pixel), each with its own synapses.
- "kernel_per_core" (Loihi 2, inferred from lava-dl PilotNet's per-core table): population axons,
  and one kernel copy per core: kh · kw · C_in rows of ceil(channels · weight_bits / word) words.
Dense synapses: one axon per presynaptic neuron onto every neuron of the core.
Synapse memory per weight set: blocks of ≤ ``synapses_per_block`` synapses, each
overhead + n · (weight_bits + index_bits) bits rounded up to a word (bits_per_axon). A core's index
width is nengo-loihi's: the fewest bits that address its compartments (ceil(log2 n), at least
``synapse_index_bits_min``, at most ``synapse_index_bits``), charged on every synapse; nengo-loihi
stores dense weights without indices, so enof's dense bits are an upper bound.
Output axons of a source core: per consumer core it reaches, one per source pixel (population
storage, times ``population_axon_slots``: pop32 axons take two slots) or one per neuron (discrete,
dense), plus one per neuron read by the host. Every per-axis count is separable, so a core's cost is
a few small outer products.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from enof.synapses.conv import conv_reach

STORAGES = ("population", "discrete", "kernel_per_core")


@dataclass(frozen=True)
class SynapseEncoding:
    """Synapse memory layout of a target (profile [limits] and [fixed_point])."""

    word_bits: int
    axon_overhead_bits: int
    index_bits: int  # the widest index; a core pays for_compartments(n).index_bits
    synapses_per_block: int
    index_bits_min: int = 0

    def for_compartments(self, n: int) -> "SynapseEncoding":
        """The encoding of a core of n compartments: the fewest index bits that address them (nengo-loihi's
        rule, ceil(log2 n) and at least index_bits_min), never more than index_bits."""
        need = max(self.index_bits_min, int(np.ceil(np.log2(max(n, 2)))))
        return dataclasses.replace(self, index_bits=min(self.index_bits, need))

    def axon_bits(self, synapses, weight_bits: int) -> np.ndarray:
        """Bits of synapse memory for weight sets with the given numbers of synapses (0 → 0 bits)."""
        n = np.asarray(synapses, dtype=np.int64)
        per_synapse = weight_bits + self.index_bits
        full, rest = np.divmod(n, self.synapses_per_block)
        full_block = self.words(self.synapses_per_block * per_synapse + self.axon_overhead_bits)
        rest_block = self.words(rest * per_synapse + self.axon_overhead_bits)
        return full * full_block + np.where(rest > 0, rest_block, 0)

    def words(self, bits):
        """`bits` rounded up to whole words, in bits."""
        return -(-np.asarray(bits, dtype=np.int64) // self.word_bits) * self.word_bits


@dataclass(frozen=True)
class AxisReach:
    """One conv group along one spatial axis: which output positions each input position reaches."""

    size_in: int
    size_out: int
    kernel: int
    stride: int
    padding: int

    def __post_init__(self):
        lo, hi = conv_reach(self.size_in, self.size_out, self.kernel, self.stride, self.padding)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)

        object.__setattr__(self, "_blocks", {})

    def in_block(self, o0: int, o1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the input positions reaching outputs [o0, o1): (first kernel tap, targets, first target − o0)."""
        if (o0, o1) not in self._blocks:
            lo, hi = np.maximum(self.lo, o0), np.minimum(self.hi, o1 - 1)
            used = np.flatnonzero(lo <= hi)
            first = used + self.padding - lo[used] * self.stride
            self._blocks[(o0, o1)] = (first, hi[used] - lo[used] + 1, lo[used] - o0)
        return self._blocks[(o0, o1)]

    def blocks_reached(self, block: int) -> np.ndarray:
        """Per input position: the output blocks of size `block` holding an output it reaches."""
        ok = self.lo <= self.hi
        return np.where(ok, self.hi // block - self.lo // block + 1, 0)


def axis_blocks(size: int, block: int) -> list[tuple[int, int]]:
    """[start, stop) of the blocks of `block` positions tiling `size` (the last may be shorter)."""
    return [(a, min(size, a + block)) for a in range(0, size, block)]


class ConvGroup:
    """A conv synapse group into a layer, split into its two spatial axes."""

    def __init__(self, syn, out_hw):
        self.syn, self.c_in = syn, syn.in_shape[0]
        self.rows = AxisReach(syn.in_shape[1], out_hw[0], syn.kernel[0], syn.stride[0], syn.padding[0])
        self.cols = AxisReach(syn.in_shape[2], out_hw[1], syn.kernel[1], syn.stride[1], syn.padding[1])

    def input_axons(self, rows, cols, storage: str) -> int:
        n = len(self.rows.in_block(*rows)[0]) * len(self.cols.in_block(*cols)[0])
        return n * (self.c_in if storage == "discrete" else 1)

    def synapse_bits(self, rows, cols, channels: int, storage: str, enc: SynapseEncoding, base_max: int) -> int:
        fr, nr, orow = self.rows.in_block(*rows)
        fc, nc, ocol = self.cols.in_block(*cols)
        bits = self.syn.weight_bits
        if storage == "kernel_per_core":
            taps = self.syn.kernel[0] * self.syn.kernel[1]
            return int(taps * self.c_in * enc.words(channels * bits))
        targets = np.outer(nr, nc) * channels  # per input pixel: the core's neurons it reaches
        if storage == "discrete":
            return int(self.c_in * enc.axon_bits(targets, bits).sum())
        width = cols[1] - cols[0]
        bucket = (orow[:, None] * width + ocol[None, :]) * channels // base_max
        k = max(self.syn.kernel) + 1  # taps and counts are < k: one int64 code per weight-set key
        keys = (((fr[:, None] * k + nr[:, None]) * k + fc[None, :]) * k + nc[None, :]) * (bucket.max() + 1) + bucket
        _, first = np.unique(keys.ravel(), return_index=True)
        return int(enc.axon_bits(self.c_in * targets.ravel()[first], bits).sum())


class LayerCost:
    """Input axons and synapse bits of any box of one layer (docs/placement.md)."""

    def __init__(self, layer, enc: SynapseEncoding, storage: str, base_max: int):
        if storage not in STORAGES:
            raise ValueError(f"unknown conv_weight_storage {storage!r} (known: {', '.join(STORAGES)})")
        self.layer, self.enc, self.storage, self.base_max = layer, enc, storage, base_max
        self.shape3 = tuple(layer.shape) if len(layer.shape) == 3 else (layer.neurons, 1, 1)
        self.convs = [ConvGroup(s, layer.shape[1:]) for s in layer.synapses if hasattr(s, "kernel")]
        self.denses = [s for s in layer.synapses if not hasattr(s, "kernel")]
        self._memo: dict = {}
        self._signatures: dict = {}

    def box_cost(self, rows, cols, channels: int) -> tuple[int, int]:
        """(input axons, synapse bits) of a core holding rows × cols × `channels` channels."""
        key = (self._signature(rows, [g.rows for g in self.convs]), self._signature(cols, [g.cols for g in self.convs]),
               channels)  # cores whose per-axis reach patterns agree cost the same
        if key not in self._memo:
            self._memo[key] = self._box_cost(rows, cols, channels)
        return self._memo[key]

    def _signature(self, span, axes) -> tuple:
        if span not in self._signatures.setdefault(id(axes[0]) if axes else 0, {}):
            self._signatures[id(axes[0]) if axes else 0][span] = (
                span[1] - span[0], *(arr.tobytes() for ax in axes for arr in ax.in_block(*span)))
        return self._signatures[id(axes[0]) if axes else 0][span]

    def _box_cost(self, rows, cols, channels: int) -> tuple[int, int]:
        neurons = (rows[1] - rows[0]) * (cols[1] - cols[0]) * channels
        enc = self.enc.for_compartments(neurons)
        axons = sum(d.n_in for d in self.denses)
        bits = sum(int(d.n_in * enc.axon_bits(neurons, d.weight_bits)) for d in self.denses)
        for g in self.convs:
            axons += g.input_axons(rows, cols, self.storage)
            bits += g.synapse_bits(rows, cols, channels, self.storage, enc, self.base_max)
        return axons, bits

    def worst(self, block: tuple[int, int, int]) -> tuple[int, int]:
        """Largest input axons and synapse bits over the cores of block shape (rows, cols, channels).

        Blocks whose per-axis reach patterns agree cost the same, so only distinct ones are evaluated."""
        _, h, w = self.shape3
        rows = self._distinct(axis_blocks(h, block[0]), [g.rows for g in self.convs])
        cols = self._distinct(axis_blocks(w, block[1]), [g.cols for g in self.convs])
        axons = bits = 0
        for r in rows:
            for c in cols:
                a, b = self.box_cost(r, c, block[2])
                axons, bits = max(axons, a), max(bits, b)
        return axons, bits

    def _distinct(self, spans, axes: list[AxisReach]) -> list[tuple[int, int]]:
        seen, keep = set(), []
        for span in spans:
            key = self._signature(span, axes)
            if key not in seen:
                seen.add(key)
                keep.append(span)
        return keep


def source_reach_sums(syn, consumer_block: tuple[int, int, int], axis: int, block: int) -> np.ndarray:
    """Per source block of `block` positions along `axis` (1 rows, 2 cols): Σ over its positions of
    the consumer blocks (of consumer_block) they reach."""
    ax = AxisReach(syn.in_shape[axis], _out_size(syn, axis), syn.kernel[axis - 1], syn.stride[axis - 1],
                   syn.padding[axis - 1])
    cum = np.concatenate([[0], np.cumsum(ax.blocks_reached(consumer_block[axis - 1]))])
    starts = np.arange(0, syn.in_shape[axis], block)
    return cum[np.minimum(starts + block, syn.in_shape[axis])] - cum[starts]


def _out_size(syn, axis: int) -> int:
    return syn.out_hw()[axis - 1]


def conv_blocks(shape3: tuple[int, int, int], block: tuple[int, int, int]) -> int:
    """Cores a layer of (C, H, W) takes with block shape (rows, cols, channels)."""
    c, h, w = shape3
    return -(-h // block[0]) * -(-w // block[1]) * -(-c // block[2])
