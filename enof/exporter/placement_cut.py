"""How to tile one layer: the block shape (rows, cols, channels) that takes the fewest cores.

Every core of a layer holds one block of a regular tiling (nengo-loihi's BlockShape: blocks of
rows × cols × channels, the last along each axis shorter), chosen per layer to use the fewest cores
with every core within all four limits. Per spatial block size (rows = ceil(H / k), cols = ceil(W / k)
for every k: the smallest block giving that many blocks along the axis), the largest channel group
that fits is found by bisection (every cost grows with the channel group); the fewest cores win,
ties going to the larger channel group (fewer destination cores for the layer's sources). A
1-D layer of N is (N, 1, 1). Output axons depend on the consumers' blocks, so the placer tiles
layers consumers first.
"""

from __future__ import annotations

import numpy as np

from enof.errors import DoesNotFitError
from enof.exporter.placement_cost import axis_blocks, conv_blocks
from enof.synapses import KINDS

LIMIT_WORDS = {
    "neurons": "Number of compartments",
    "input_axons": "Input axons",
    "output_axons": "Output axons",
    "synapse_bits": "Total synapse bits",
}


class OutputAxons:
    """Output axons of the cores of one layer, given its consumers' blocks.

    For block shape (rows, cols, channels) the core in row block rb, column block cb holding
    ``channels`` channels needs fixed[rb, cb] + per_channel[rb, cb] · channels."""

    def __init__(self, layer, consumers, slots: int, storage: str):
        self.layer, self.consumers, self.slots, self.storage = layer, consumers, slots, storage

    def terms(self, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        c, h, w = self.layer.shape if len(self.layer.shape) == 3 else (self.layer.neurons, 1, 1)
        hr = np.diff([a for a, _ in axis_blocks(h, rows)] + [h])
        hc = np.diff([a for a, _ in axis_blocks(w, cols)] + [w])
        pixels = np.outer(hr, hc)
        fixed = np.zeros_like(pixels)
        per_channel = pixels * (1 if self.layer.to_host else 0)
        for consumer, syn, block, cores in self.consumers:  # each synapse group's kind prices its axons
            cost = KINDS[syn.kind].placement_cost(syn, consumer.weight_bits)
            more_fixed, more_per_channel = cost.output_axons(block, cores, rows, cols, pixels, self.storage, self.slots)
            fixed, per_channel = fixed + more_fixed, per_channel + more_per_channel
        return fixed, per_channel

    def worst(self, block: tuple[int, int, int]) -> int:
        fixed, per_channel = self.terms(block[0], block[1])
        return int((fixed + per_channel * min(block[2], self._channels())).max())

    def _channels(self) -> int:
        return self.layer.shape[0] if len(self.layer.shape) == 3 else self.layer.neurons


def _sizes(n: int) -> list[int]:
    """Block sizes giving every possible number of blocks along an axis of n: ceil(n / k), k = 1..n."""
    return sorted({-(-n // k) for k in range(1, n + 1)})


def choose_block(cost, out: OutputAxons, limits) -> tuple[int, int, int]:
    """The (rows, cols, channels) block with the fewest cores, every core within every limit."""
    c, h, w = cost.shape3
    channel_sizes = _sizes(c)
    best, best_key = None, None
    spatial = sorted(((r, q) for r in _sizes(h) for q in _sizes(w)), key=lambda rq: -(-h // rq[0]) * -(-w // rq[1]))
    for rows, cols in spatial:
        if best_key is not None and -(-h // rows) * -(-w // cols) > best_key[0]:
            break
        if cost.worst((rows, cols, 1))[0] > limits.input_axons:
            continue

        def fits(ch: int) -> bool:
            if rows * cols * ch > limits.neurons:
                return False
            if cost.worst((rows, cols, ch))[1] > limits.synapse_bits:
                return False
            return out.worst((rows, cols, ch)) <= limits.output_axons

        lo, hi = 0, len(channel_sizes) - 1  # bisection: the largest channel group that fits
        if not fits(channel_sizes[0]):
            continue
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(channel_sizes[mid]) else (lo, mid - 1)
        block = (rows, cols, channel_sizes[lo])
        key = (conv_blocks(cost.shape3, block), -block[2], abs(rows - cols))
        if best_key is None or key < best_key:
            best, best_key = block, key
    if best is None:
        _single_neuron_error(cost, out, limits)
    return best


def _single_neuron_error(cost, out: OutputAxons, limits) -> None:
    axons, bits = cost.worst((1, 1, 1))
    outs = out.worst((1, 1, 1))
    key, used, cap = next((k, u, m) for k, u, m in (
        ("input_axons", axons, limits.input_axons), ("synapse_bits", bits, limits.synapse_bits),
        ("output_axons", outs, limits.output_axons)) if u > m)  # fmt: skip
    advice = ("make the layers it feeds fit on fewer cores (fewer output channels or a smaller fan-in there)"
              if key == "output_axons" else "reduce the layer's fan-in (fewer input channels or a smaller kernel)")
    raise DoesNotFitError(f"{cost.layer.name}: {LIMIT_WORDS[key]} ({used}) exceeded max ({cap}) for a single "
                          f"neuron; {advice}")
