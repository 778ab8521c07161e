"""Where to cut one layer's neurons (channels-last positions) into cores, within every core limit.

`cut_layer(cost, limits, per_neuron)` returns the [start, stop) ranges of a layer:
- a 1-D layer: equal ranges, as many neurons as fit (its cost depends on the count only), then cut
  greedily where output axons overflow;
- a (C, H, W) layer whose every pixel (all C channels, and their output axons) fits a core: runs of
  whole pixels in raster order, each as long as all four limits allow (greedy; the cost of a run
  only grows as it grows);
- otherwise every pixel p is cut into n_p equal channel chunks, n_p = ceil(C / s_p) with s_p the
  most channels of pixel p that fit a core (input axons and synapse bits, found for all pixels at
  once by bisection; border pixels have fewer taps and take more) and whose output axons fit.
`per_neuron` (output axons of each neuron, channels-last; None for a first, input-only pass) needs
the consumers' final ranges, so the placer cuts layers consumers-first.
"""

from __future__ import annotations

import numpy as np

from enof.errors import DoesNotFitError

_LIMIT_WORDS = {
    "neurons": "Number of compartments",
    "input_axons": "Input axons",
    "output_axons": "Output axons",
    "synapse_bits": "Total synapse bits",
}


def cut_layer(cost, limits, per_neuron: np.ndarray | None = None) -> np.ndarray:
    """(cores, 2) int64 ranges tiling the layer of `cost` (a placement._LayerCost) in order."""
    layer, per_pixel = cost.layer, cost.channels
    if per_neuron is not None:
        _check_single_output(layer.name, per_neuron, limits.output_axons)
    if len(layer.shape) != 3:
        if not _fits(cost, limits, 0, 1):
            _single_neuron_error(cost, limits, 0)
        size = _largest_stop(lambda b: _fits(cost, limits, 0, b), 0, min(layer.neurons, limits.neurons), limits.neurons)
        starts = np.arange(0, layer.neurons, size, dtype=np.int64)
        ranges = np.stack([starts, np.minimum(starts + size, layer.neurons)], axis=1)
        return ranges if per_neuron is None else _greedy_cuts(per_neuron, ranges, limits.output_axons)
    pixels = layer.neurons // per_pixel
    out = np.zeros(pixels, dtype=np.int64) if per_neuron is None else per_neuron[::per_pixel]  # per neuron, per pixel
    axons, bits = cost.chunk_cost(per_pixel)
    if (per_pixel <= limits.neurons and axons.max() <= limits.input_axons and bits.max() <= limits.synapse_bits
            and per_pixel * out.max(initial=0) <= limits.output_axons):
        return _whole_pixel_runs(cost, limits, pixels, np.concatenate([[0], np.cumsum(per_pixel * out)]))
    return _channel_chunks(cost, limits, pixels, out)


def _whole_pixel_runs(cost, limits, pixels: int, out_cum: np.ndarray) -> np.ndarray:
    per_pixel = cost.channels

    def fits(p: int, q: int) -> bool:
        return out_cum[q] - out_cum[p] <= limits.output_axons and _fits(cost, limits, p * per_pixel, q * per_pixel)

    cuts, p, most = [], 0, limits.neurons // per_pixel
    guess = most
    while p < pixels:
        stop = _largest_stop(lambda q: fits(p, q), p, min(pixels, p + most), guess)
        cuts.append((p, stop))
        guess, p = stop - p, stop
    return np.asarray(cuts, dtype=np.int64).reshape(-1, 2) * per_pixel


def _channel_chunks(cost, limits, pixels: int, out: np.ndarray) -> np.ndarray:
    per_pixel = cost.channels
    axons, bits = cost.chunk_cost(1)
    if axons.max() > limits.input_axons or bits.max() > limits.synapse_bits:
        worst = int(np.argmax(axons if axons.max() > limits.input_axons else bits))
        _single_neuron_error(cost, limits, worst * per_pixel)
    lo = np.ones(pixels, dtype=np.int64)  # bisection, all pixels at once: lo fits, above hi does not
    hi = np.full(pixels, min(per_pixel, limits.neurons), dtype=np.int64)
    while (lo < hi).any():
        mid = (lo + hi + 1) // 2
        axons, bits = cost.chunk_cost(mid)
        ok = (axons <= limits.input_axons) & (bits <= limits.synapse_bits)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid - 1)
    size = np.where(out > 0, np.minimum(lo, limits.output_axons // np.maximum(out, 1)), lo)
    chunks = -(-per_pixel // size)  # equal chunks of ≤ size channels
    pixel = np.repeat(np.arange(pixels, dtype=np.int64), chunks)
    k = np.arange(len(pixel), dtype=np.int64) - np.repeat(np.cumsum(chunks) - chunks, chunks)
    n = chunks[pixel]
    return np.stack([pixel * per_pixel + k * per_pixel // n, pixel * per_pixel + (k + 1) * per_pixel // n], axis=1)


def _fits(cost, limits, start: int, stop: int) -> bool:
    axons, bits = cost.range_cost(start, stop)
    return stop - start <= limits.neurons and axons <= limits.input_axons and bits <= limits.synapse_bits


def _largest_stop(fits, start: int, hi: int, guess: int) -> int:
    """Largest stop in (start, hi] with fits(stop), given fits(start + 1) (cost grows with stop)."""
    lo = start + 1
    probe = min(hi, start + max(1, guess))
    if fits(probe):  # gallop up from the previous core's size
        lo = probe
        while lo < hi:
            step = min(hi, start + 2 * (lo - start))
            if not fits(step):
                hi = step - 1
                break
            lo = step
    else:
        hi = probe - 1
    while lo < hi:  # invariant: lo fits, everything above hi does not
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _greedy_cuts(weights: np.ndarray, cut: np.ndarray, limit: int) -> np.ndarray:
    """Cut each range where its weights (output axons per neuron) add up to more than `limit`."""
    total = np.concatenate([[0], np.cumsum(weights)])
    cur, stops, pieces = cut[:, 0].copy(), cut[:, 1], []
    while len(cur):  # greedy cuts, one step for all ranges at once
        nxt = np.minimum(np.searchsorted(total, total[cur] + limit, side="right") - 1, stops)
        pieces.append(np.stack([cur, nxt], axis=1))
        going = nxt < stops
        cur, stops = nxt[going], stops[going]
    pieces = np.concatenate(pieces)
    return pieces[np.argsort(pieces[:, 0], kind="stable")]


def _check_single_output(name: str, per_neuron: np.ndarray, limit: int) -> None:
    worst = int(per_neuron.max(initial=0))
    if worst > limit:
        raise DoesNotFitError(
            f"{name}: Output axons ({worst}) exceeded max ({limit}) for a single neuron: its spikes "
            f"must reach {worst} cores; make the layers it feeds fit on fewer cores (fewer output "
            "channels or a smaller fan-in there)"
        )


def _single_neuron_error(cost, limits, start: int) -> None:
    axons, bits = cost.range_cost(start, start + 1)
    key, used, cap = (("input_axons", axons, limits.input_axons) if axons > limits.input_axons
                      else ("synapse_bits", bits, limits.synapse_bits))
    raise DoesNotFitError(
        f"{cost.layer.name}: {_LIMIT_WORDS[key]} ({used}) exceeded max ({cap}) for a single neuron; "
        "reduce the layer's fan-in (fewer input channels or a smaller kernel)"
    )
