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
a few small outer products. Each kind's part of it is its ``placement_cost`` (enof.synapses: ConvCost,
DenseCost); this module adds the kinds' parts up per core.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from enof.synapses import KINDS

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


def axis_blocks(size: int, block: int) -> list[tuple[int, int]]:
    """[start, stop) of the blocks of `block` positions tiling `size` (the last may be shorter)."""
    return [(a, min(size, a + block)) for a in range(0, size, block)]


class LayerCost:
    """Input axons and synapse bits of any box of one layer (docs/placement.md)."""

    def __init__(self, layer, enc: SynapseEncoding, storage: str, base_max: int):
        if storage not in STORAGES:
            raise ValueError(f"unknown conv_weight_storage {storage!r} (known: {', '.join(STORAGES)})")
        self.layer, self.enc, self.storage, self.base_max = layer, enc, storage, base_max
        self.shape3 = tuple(layer.shape) if len(layer.shape) == 3 else (layer.neurons, 1, 1)
        # each synapse group's cost, from its kind's table entry (enof.synapses.KINDS)
        self.groups = [KINDS[s.kind].placement_cost(s, layer.weight_bits) for s in layer.synapses]
        self.row_axes = [ax for g in self.groups for ax in g.row_axes]
        self.col_axes = [ax for g in self.groups for ax in g.col_axes]
        self._memo: dict = {}
        self._signatures: dict = {}

    def box_cost(self, rows, cols, channels: int) -> tuple[int, int]:
        """(input axons, synapse bits) of a core holding rows × cols × `channels` channels."""
        key = (self._signature(rows, self.row_axes), self._signature(cols, self.col_axes),
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
        axons = bits = 0
        for g in self.groups:
            axons += g.input_axons(rows, cols, self.storage)
            bits += g.synapse_bits(rows, cols, channels, self.storage, enc, self.base_max)
        return axons, bits

    def worst(self, block: tuple[int, int, int]) -> tuple[int, int]:
        """Largest input axons and synapse bits over the cores of block shape (rows, cols, channels).

        Blocks whose per-axis reach patterns agree cost the same, so only distinct ones are evaluated."""
        _, h, w = self.shape3
        rows = self._distinct(axis_blocks(h, block[0]), self.row_axes)
        cols = self._distinct(axis_blocks(w, block[1]), self.col_axes)
        axons = bits = 0
        for r in rows:
            for c in cols:
                a, b = self.box_cost(r, c, block[2])
                axons, bits = max(axons, a), max(bits, b)
        return axons, bits

    def _distinct(self, spans, axes: list) -> list[tuple[int, int]]:
        seen, keep = set(), []
        for span in spans:
            key = self._signature(span, axes)
            if key not in seen:
                seen.add(key)
                keep.append(span)
        return keep


def conv_blocks(shape3: tuple[int, int, int], block: tuple[int, int, int]) -> int:
    """Cores a layer of (C, H, W) takes with block shape (rows, cols, channels)."""
    c, h, w = shape3
    return -(-h // block[0]) * -(-w // block[1]) * -(-c // block[2])
