"""What a range of a layer's neurons costs on one core: input axons, synapse bits, destinations.

Discrete axons (nengo-loihi `block.py`, no weight sharing; PopulationConv below is the shared one):
- every distinct presynaptic neuron that feeds at least one neuron of the core takes one input
  axon on the core (per synapse group; two groups from the same source are counted twice, an
  upper bound);
- an input axon with n synapses on the core uses, per block of up to `synapses_per_axon_block`
  synapses, `synapse_axon_overhead_bits + k * (weight_bits + synapse_index_bits)` bits rounded up
  to a `synapse_word_bits` word (SynapseConfig.bits_per_axon);
- zero weights are stored like any other and padding taps do not exist.
For a conv group (groups = 1) every output neuron sees all input channels, so a core's need
depends only on which output positions it holds: with n_c(y, x) the number of its neurons (over
its channels) whose receptive field covers input pixel (y, x), each of the C_in input neurons at
(y, x) is one input axon with n_c(y, x) synapses. This is exact for the model above. The count is
separable: a rectangle of output rows × columns covers pixel (y, x) rows(y) · cols(x) times,
so a core (at most three rectangles per channel run) costs a few small outer products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SynapseEncoding:
    """Synapse memory layout of a target (profile [limits] and [fixed_point])."""

    word_bits: int
    axon_overhead_bits: int
    index_bits: int
    synapses_per_block: int

    def axon_bits(self, synapses: np.ndarray | int, weight_bits: int) -> np.ndarray:
        """Bits of synapse memory for input axons with the given numbers of synapses (0 → 0 bits)."""
        n = np.asarray(synapses, dtype=np.int64)
        per_synapse = weight_bits + self.index_bits
        full, rest = np.divmod(n, self.synapses_per_block)
        full_block = self._words(self.synapses_per_block * per_synapse + self.axon_overhead_bits)
        rest_block = self._words(rest * per_synapse + self.axon_overhead_bits)
        return full * full_block + np.where(rest > 0, rest_block, 0)

    def _words(self, bits):
        return -(-np.asarray(bits, dtype=np.int64) // self.word_bits) * self.word_bits


def channel_segments(start: int, stop: int, per_channel: int) -> tuple[tuple[int, int, int], ...]:
    """Split the flat range [start, stop) of a (C, H, W) layer into (channels, q0, q1) runs:
    `channels` channels each holding positions [q0, q1) of their H*W plane."""
    c0, p0 = divmod(start, per_channel)
    c1, p1 = divmod(stop, per_channel)
    if c0 == c1:
        return ((1, p0, p1),)
    segs = []
    if p0 > 0:
        segs.append((1, p0, per_channel))
        c0 += 1
    if c1 > c0:
        segs.append((c1 - c0, 0, per_channel))
    if p1 > 0:
        segs.append((1, 0, p1))
    return tuple(segs)


def position_rectangles(q0: int, q1: int, width: int) -> list[tuple[int, int, int, int]]:
    """The flat position range [q0, q1) of an H×W plane as at most 3 (row0, row1, col0, col1) rectangles."""
    y0, x0 = divmod(q0, width)
    y1, x1 = divmod(q1, width)
    if y0 == y1:
        return [(y0, y0 + 1, x0, x1)] if x1 > x0 else []
    rects = [(y0, y0 + 1, x0, width)] if x0 > 0 else []
    first_full = y0 + 1 if x0 > 0 else y0
    if y1 > first_full:
        rects.append((first_full, y1, 0, width))
    if x1 > 0:
        rects.append((y1, y1 + 1, 0, x1))
    return rects


def _cover_cumsum(size_in: int, size_out: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """C[o, i] = number of output positions < o whose receptive field covers input position i."""
    first = np.arange(size_out)[:, None] * stride - padding
    i = np.arange(size_in)[None, :]
    cover = ((i >= first) & (i < first + kernel)).astype(np.int64)
    return np.vstack([np.zeros((1, size_in), dtype=np.int64), np.cumsum(cover, axis=0)])


class ConvGeometry:
    """Per-input-pixel synapse counts for sets of output positions of one conv synapse group."""

    def __init__(self, in_shape, out_hw, kernel, stride, padding):
        self.c_in, h_in, w_in = in_shape
        self.h_out, self.w_out = out_hw
        self.rows = _cover_cumsum(h_in, self.h_out, kernel[0], stride[0], padding[0])
        self.cols = _cover_cumsum(w_in, self.w_out, kernel[1], stride[1], padding[1])

    def counts(self, segments) -> np.ndarray:
        """n(y, x): synapses each input neuron at pixel (y, x) has onto the neurons of `segments`."""
        weights, rows, cols = [], [], []
        for channels, q0, q1 in segments:
            for r0, r1, c0, c1 in position_rectangles(q0, q1, self.w_out):
                weights.append(channels)
                rows.append(self.rows[r1] - self.rows[r0])
                cols.append(self.cols[c1] - self.cols[c0])
        if not weights:
            return np.zeros((self.rows.shape[1], self.cols.shape[1]), dtype=np.int64)
        return np.einsum("k,ki,kj->ij", np.asarray(weights), np.asarray(rows), np.asarray(cols))


def _tap_masks(size_in: int, size_out: int, kernel: int, stride: int, padding: int):
    """Per input position: which kernel taps reach a valid output, and the first such output."""
    taps = np.arange(kernel)[None, :]
    num = np.arange(size_in)[:, None] + padding - taps  # output position × stride, per tap
    valid = (num % stride == 0) & (num >= 0) & (num // stride < size_out)
    first = np.where(valid, num // stride, size_out).min(axis=1)
    return valid, first


class PopulationConv:
    """A conv group in nengo-loihi's population encoding (builder/conv.py conv2d_loihi_weights).

    Each input pixel is one input axon (its channel travels as the spike's atom). Pixels whose
    kernel-tap masks agree share one weight set of C_in × taps × F synapses for a core holding F
    whole output channels; sets are duplicated per `base_max` block of the pixel's first target
    compartment (the 256 compartment-offset limit nengo-loihi works around).
    """

    def __init__(self, in_shape, out_hw, kernel, stride, padding, base_max: int):
        self.c_in = in_shape[0]
        rows, row0 = _tap_masks(in_shape[1], out_hw[0], kernel[0], stride[0], padding[0])
        cols, col0 = _tap_masks(in_shape[2], out_hw[1], kernel[1], stride[1], padding[1])
        used = rows.any(axis=1)[:, None] & cols.any(axis=1)[None, :]
        self.used_pixels = int(used.sum())
        row_id = np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1)
        col_id = np.unique(cols, axis=0, return_inverse=True)[1].reshape(-1)
        block = (row0[:, None] * out_hw[1] + col0[None, :]) // base_max
        keys = np.stack(np.broadcast_arrays(row_id[:, None], col_id[None, :], block), axis=-1)[used]
        first = np.unique(keys, axis=0, return_index=True)[1]
        taps = (rows.sum(axis=1)[:, None] * cols.sum(axis=1)[None, :])[used]
        self.taps_per_set = taps[first]  # one entry per distinct weight set

    def synapse_bits(self, channels: int, enc: SynapseEncoding, weight_bits: int) -> int:
        return int(enc.axon_bits(self.c_in * self.taps_per_set * channels, weight_bits).sum())
