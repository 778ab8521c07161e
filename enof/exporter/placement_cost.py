"""What a range of a layer's neurons costs on one core: input axons, synapse bits, destinations.

Ranges are in channels-last order (enof.formats.placement): a core of a (C, H, W) layer holds a run
of output pixels with all C channels, with at most a partial pixel at either end
(`pixel_segments`). For a conv group (groups = 1) every output neuron sees all input channels, so
with n(y, x) = the number of the core's neurons whose receptive field covers input pixel (y, x):
- discrete axons (nengo-loihi `block.py`, no weight sharing): each of the C_in input neurons at
  (y, x) with n(y, x) > 0 is one input axon with n(y, x) synapses. Exact for that encoding.
- population axons (nengo-loihi `builder/conv.py`, channel = the spike's atom): each input pixel
  with n(y, x) > 0 is one input axon whose weight set holds C_in · n(y, x) synapses. Exact for the
  axons; for synapse memory an upper bound: nengo-loihi may share one set among input pixels with
  the same kernel-tap mask relative to the core and the same 256-compartment offset block (with
  channels-last cores that block spans only 256 / C output pixels); we charge every pixel its own.
Synapse memory per axon / weight set, per block of up to `synapses_per_axon_block` synapses:
`synapse_axon_overhead_bits + k * (weight_bits + synapse_index_bits)` rounded up to a
`synapse_word_bits` word (SynapseConfig.bits_per_axon); zero weights are stored, padding taps do not exist.
n(y, x) is separable per rectangle of output rows × columns (rows(y) · cols(x)), so a core (at most
five rectangles) costs a few small outer products; a core inside one pixel costs taps × channels.
Output axons: a neuron at input pixel (y, x) reaches the output pixels of a rectangle (all
channels); its destination cores are the union over the rectangle's rows of the contiguous core
intervals holding that row's run of positions (`conv_destinations`, exact for discrete axons).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from enof.geometry import conv_cover, conv_reach


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


def pixel_segments(start: int, stop: int, channels: int) -> tuple[tuple[int, int, int], ...]:
    """Split the channels-last range [start, stop) of a (C, H, W) layer into (channels, p0, p1) runs:
    each pixel of [p0, p1) of the H*W plane holds `channels` of its channels on the core."""
    p0, c0 = divmod(start, channels)
    p1, c1 = divmod(stop, channels)
    if p0 == p1:
        return ((c1 - c0, p0, p0 + 1),)
    segs = []
    if c0 > 0:
        segs.append((channels - c0, p0, p0 + 1))
        p0 += 1
    if p1 > p0:
        segs.append((channels, p0, p1))
    if c1 > 0:
        segs.append((c1, p1, p1 + 1))
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
    cover = conv_cover(size_in, size_out, kernel, stride, padding)
    return np.vstack([np.zeros((1, size_in), dtype=np.int64), np.cumsum(cover, axis=0)])


class ConvGeometry:
    """Per-input-pixel synapse counts for sets of output positions of one conv synapse group."""

    def __init__(self, in_shape, out_hw, kernel, stride, padding):
        self.c_in, h_in, w_in = in_shape
        self.h_out, self.w_out = out_hw
        self.rows = _cover_cumsum(h_in, self.h_out, kernel[0], stride[0], padding[0])
        self.cols = _cover_cumsum(w_in, self.w_out, kernel[1], stride[1], padding[1])
        # taps[p]: input pixels (not padding) in the receptive field of output pixel p
        self.taps = np.outer(np.diff(self.rows, axis=0).sum(1), np.diff(self.cols, axis=0).sum(1)).ravel()

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


def conv_destinations(in_hw, out_shape, kernel, stride, padding, starts: np.ndarray) -> np.ndarray:
    """(H_in, W_in): distinct cores holding a neuron that an input neuron at (y, x) connects to.

    `starts` are the sorted first positions of the consumer's cores (channels-last, tiling the layer).
    Row r of the reach rectangle occupies positions [(r·W + x_lo)·C, (r·W + x_hi + 1)·C), held by
    the core interval [a_r, b_r]; a_r and b_r grow with r, so the union has
    Σ_r max(0, b_r − max(a_r − 1, b_{r−1})) cores. Exact.
    """
    c_out, h_out, w_out = out_shape
    ylo, yhi = conv_reach(in_hw[0], h_out, kernel[0], stride[0], padding[0])
    xlo, xhi = conv_reach(in_hw[1], w_out, kernel[1], stride[1], padding[1])
    cols_ok = (xlo <= xhi)[None, :]
    count = np.zeros((in_hw[0], in_hw[1]), dtype=np.int64)
    prev_b = np.full_like(count, -1)
    for dy in range(int(max(0, (yhi - ylo).max(initial=-1) + 1))):
        r = ylo + dy
        ok = (r <= yhi)[:, None] & cols_ok
        row_base = (r * w_out)[:, None]
        a = np.searchsorted(starts, (row_base + xlo[None, :]) * c_out, side="right") - 1
        b = np.searchsorted(starts, (row_base + xhi[None, :] + 1) * c_out - 1, side="right") - 1
        count += np.where(ok, np.maximum(0, b - np.maximum(a - 1, prev_b)), 0)
        prev_b = np.where(ok, b, prev_b)
    return count
