"""Place a spiking network's layers onto the cores and chips of a target, within every core limit.

`place(layers, profile) -> Placement` is a pure function. Each layer's neurons (flattened torch
C,H,W order) are cut into contiguous ranges, one per core, such that every core respects
  neurons ≤ neurons_per_core, input axons ≤ input_axons_per_core,
  output axons ≤ output_axons_per_core, synapse bits ≤ synapse_bits_per_core
under nengo-loihi's resource model (block.py, builder/conv.py; arithmetic in placement_cost.py):
- conv synapse groups, when the profile sets conv_population_axons and one whole output channel
  fits a core that way: one population input axon per used input pixel (the channel travels as
  the spike's atom) and one weight set per distinct kernel-tap mask (and 256-compartment offset
  block), holding C_in × taps × (channels on the core) synapses. Cores hold whole channels; a core
  later cut mid-channel is charged for every channel it touches (an upper bound).
- otherwise (and for dense groups): one input axon per presynaptic neuron that reaches the core,
  with as many synapses as it has targets there, no sharing. Exact for that encoding; two groups
  from the same source are counted separately (an upper bound).
- output axons: one per (neuron, destination core) pair, plus one per neuron whose spikes go to
  the host. Exact for discrete axons; population axons could share one among the channels of a
  core at the same pixel, so for them it is an upper bound.
Cores are packed into chips in layer order and given a tile and its (x, y) on the chip
(tile = y * tiles_x + x).

How ranges are chosen: a conv layer whose whole channel fits one core gets k whole channels per
core; otherwise every channel is cut at the same positions (cores do not straddle channels, which
wastes at most one part-filled core per channel but makes the cost of channel c the cost of
channel 0). Layers are then visited consumers-first and a core whose output axons overflow is cut
further (cutting a core never raises its input axons or synapse bits). Because ranges follow
C,H,W order, every neuron of a conv layer feeds each core of the next layer's channels: for wide
layers the output-axon limit, not compartments, sets the core count.
"""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from rich.table import Table

from enof.errors import DoesNotFitError
from enof.exporter.placement_cost import ConvGeometry, PopulationConv, SynapseEncoding, channel_segments
from enof.formats.placement import LIMIT_KEYS, LayerPlacement, PlacedCore, Placement
from enof.hardware_profiles import Profile

HOST = "input"  # source name of synapses whose spikes come from the host, not from a chip layer

_LIMIT_WORDS = {
    "neurons": "Number of compartments",
    "input_axons": "Input axons",
    "output_axons": "Output axons",
    "synapse_bits": "Total synapse bits",
}


@dataclass(frozen=True)
class ConvSynapses:
    """A conv (groups = 1) from `source` (a chip layer name or "input") into the layer."""

    source: str
    in_shape: tuple[int, int, int]  # C_in, H_in, W_in of the source neurons
    kernel: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    weight_bits: int = 8

    def out_hw(self) -> tuple[int, int]:
        return tuple(
            (self.in_shape[1 + d] + 2 * self.padding[d] - self.kernel[d]) // self.stride[d] + 1 for d in range(2)
        )


@dataclass(frozen=True)
class DenseSynapses:
    """All-to-all synapses from the `n_in` neurons of `source` into every neuron of the layer."""

    source: str
    n_in: int
    weight_bits: int = 8


@dataclass(frozen=True)
class LayerSpec:
    """One chip layer of neurons (a LIF node) and the synapse groups that feed it.

    shape: (C, H, W) or (N,). synapses: the weight nodes summed into it (a residual join has
    two); empty for a layer driven by input current from the host. to_host: its spikes leave
    the chip (one output axon per neuron).
    """

    name: str
    shape: tuple[int, ...]
    synapses: tuple[ConvSynapses | DenseSynapses, ...] = ()
    to_host: bool = False
    neurons: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "neurons", int(np.prod(self.shape)))
        for syn in self.synapses:
            if isinstance(syn, ConvSynapses):
                if len(self.shape) != 3 or tuple(self.shape[1:]) != syn.out_hw():
                    raise ValueError(f"{self.name}: conv from {syn.source} gives {syn.out_hw()}, layer shape is {self.shape}")


@dataclass(frozen=True)
class _Limits:
    neurons: int
    input_axons: int
    output_axons: int
    synapse_bits: int


class _LayerCost:
    """Input axons and synapse bits of any neuron range of one layer (cached by channel runs).

    mode "population": conv groups use population axons and shared weight sets (whole channels
    per core); chosen when the profile allows it and one whole channel fits a core that way.
    mode "discrete": one axon per presynaptic neuron, no sharing (the fallback, exact)."""

    def __init__(self, layer: LayerSpec, enc: SynapseEncoding, limits: "_Limits", population_base_max: int | None):
        self.layer = layer
        self.enc = enc
        self.per_channel = int(np.prod(layer.shape[1:])) if len(layer.shape) == 3 else layer.neurons
        self.convs = [(s, ConvGeometry(s.in_shape, s.out_hw(), s.kernel, s.stride, s.padding))
                      for s in layer.synapses if isinstance(s, ConvSynapses)]
        self.denses = [s for s in layer.synapses if isinstance(s, DenseSynapses)]
        self.mode, self.populations = "discrete", []
        if self.convs and population_base_max is not None:
            self.populations = [(s, PopulationConv(s.in_shape, s.out_hw(), s.kernel, s.stride, s.padding,
                                                   population_base_max)) for s, _ in self.convs]
            axons, bits = self._population_cost(1, self.per_channel)
            if self.per_channel <= limits.neurons and axons <= limits.input_axons and bits <= limits.synapse_bits:
                self.mode = "population"
        self.cost = lru_cache(maxsize=None)(self._cost)
        self._population_conv_cost = lru_cache(maxsize=None)(self._population_conv_cost)

    def segments(self, start: int, stop: int) -> tuple[tuple[int, int, int], ...]:
        q0 = start % self.per_channel
        if q0 + stop - start <= self.per_channel:  # fast path: inside one channel
            return ((1, q0, q0 + stop - start),)
        return channel_segments(start, stop, self.per_channel)

    def range_cost(self, start: int, stop: int) -> tuple[int, int]:
        if self.mode == "population":  # a core is charged for every channel it touches (upper bound)
            channels = (stop - 1) // self.per_channel - start // self.per_channel + 1
            return self._population_cost(channels, stop - start)
        return self.cost(self.segments(start, stop))

    def _population_cost(self, channels: int, neurons: int) -> tuple[int, int]:
        axons, bits = self._dense_cost(neurons) if self.denses else (0, 0)
        conv_axons, conv_bits = self._population_conv_cost(channels)
        return axons + conv_axons, bits + conv_bits

    def _population_conv_cost(self, channels: int) -> tuple[int, int]:
        axons = sum(pop.used_pixels for _, pop in self.populations)
        bits = sum(pop.synapse_bits(channels, self.enc, syn.weight_bits) for syn, pop in self.populations)
        return axons, bits

    def _dense_cost(self, neurons: int) -> tuple[int, int]:
        axons = bits = 0
        for syn in self.denses:
            axons += syn.n_in
            bits += syn.n_in * int(self.enc.axon_bits(neurons, syn.weight_bits))
        return axons, bits

    def _cost(self, segments) -> tuple[int, int]:
        axons, bits = self._dense_cost(sum(c * (q1 - q0) for c, q0, q1 in segments))
        for syn, geo in self.convs:
            n = geo.counts(segments)
            axons += syn.in_shape[0] * int(np.count_nonzero(n))
            bits += syn.in_shape[0] * int(self.enc.axon_bits(n, syn.weight_bits).sum())
        return axons, bits

    def needs(self, geo: ConvGeometry, segments) -> np.ndarray:
        """Which source pixels (H_in, W_in) the neurons of `segments` receive synapses from."""
        return geo.counts(segments) > 0


def place(layers: list[LayerSpec], profile: Profile, max_chips: int | None = None) -> Placement:
    """Cut every layer into cores within the profile's limits and pack the cores into chips.

    Layers must come in an order where a layer's chip sources precede it. Raises DoesNotFitError
    (naming the layer, the limit, the numbers and a way out) when a single neuron exceeds a core
    or the network needs more than `max_chips` (default: the profile's) chips.
    """
    lim = profile.limits
    limits = _Limits(lim.neurons_per_core.value, lim.input_axons_per_core.value,
                     lim.output_axons_per_core.value, lim.synapse_bits_per_core.value)
    enc = SynapseEncoding(lim.synapse_word_bits.value, lim.synapse_axon_overhead_bits.value,
                          lim.synapse_index_bits.value, lim.synapses_per_axon_block.value)
    max_chips = lim.max_chips.value if max_chips is None else max_chips
    _check_graph(layers, profile)
    base_max = lim.axon_compartment_base_max.value if lim.conv_population_axons.value else None
    costs = {layer.name: _LayerCost(layer, enc, limits, base_max) for layer in layers}
    ranges = {layer.name: _split_inputs(costs[layer.name], limits) for layer in layers}
    per_chip = lim.cores_per_chip.value
    _check_chips(layers, ranges, per_chip, max_chips, at_least=True)  # early: output axons only add cores
    out_axons = {}
    for layer in reversed(layers):  # consumers first: a layer's destinations are final when it is cut
        per_neuron = _output_axons_per_neuron(layer, layers, costs, ranges)
        ranges[layer.name] = _split_outputs(layer, ranges[layer.name], per_neuron, limits.output_axons)
        out_axons[layer.name] = np.concatenate([[0], np.cumsum(per_neuron)])
    chips = _check_chips(layers, ranges, per_chip, max_chips, at_least=False)
    return _assign(layers, profile, limits, costs, ranges, out_axons, chips)


def _check_graph(layers: list[LayerSpec], profile: Profile) -> None:
    seen: dict[str, LayerSpec] = {}
    for layer in layers:
        if layer.name in seen or layer.name == HOST:
            raise ValueError(f"layer name {layer.name!r} used twice or reserved")
        for syn in layer.synapses:
            if syn.weight_bits > profile.fixed_point.weight_bits.value:
                raise DoesNotFitError(
                    f"{layer.name}: {syn.weight_bits}-bit weights exceed the target's "
                    f"{profile.fixed_point.weight_bits.value} bits; quantize to fewer bits"
                )
            if syn.source == HOST:
                continue
            src = seen.get(syn.source)
            if src is None:
                raise ValueError(f"{layer.name}: source {syn.source!r} is not a chip layer placed before it")
            want = syn.in_shape if isinstance(syn, ConvSynapses) else (syn.n_in,)
            if int(np.prod(want)) != src.neurons or (isinstance(syn, ConvSynapses) and tuple(src.shape) != want):
                raise ValueError(f"{layer.name}: source {syn.source} has shape {src.shape}, synapses expect {want}")
        seen[layer.name] = layer


def _fits(cost: _LayerCost, limits: _Limits, start: int, stop: int) -> bool:
    axons, bits = cost.range_cost(start, stop)
    return stop - start <= limits.neurons and axons <= limits.input_axons and bits <= limits.synapse_bits


def _largest_stop(cost: _LayerCost, limits: _Limits, start: int, end: int, guess: int) -> int:
    """Largest stop in (start, end] with [start, stop) fitting a core (cost grows with stop)."""
    lo, hi = start, min(end, start + limits.neurons)  # lo fits (or is start), hi+1 does not
    if not _fits(cost, limits, start, start + 1):
        _single_neuron_error(cost, limits, start)
    lo = start + 1
    probe = min(hi, start + max(1, guess))
    if _fits(cost, limits, start, probe):  # gallop up from the previous core's size
        lo = probe
        while lo < hi:
            step = min(hi, start + 2 * (lo - start))
            if not _fits(cost, limits, start, step):
                hi = step - 1
                break
            lo = step
    else:
        hi = probe - 1
    while lo < hi:  # invariant: lo fits, everything above hi does not
        mid = (lo + hi + 1) // 2
        if _fits(cost, limits, start, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _split_inputs(cost: _LayerCost, limits: _Limits) -> np.ndarray:
    """Cut a layer so every core respects neurons, input axons and synapse bits."""
    n, per_channel = cost.layer.neurons, cost.per_channel
    if not cost.convs or _fits(cost, limits, 0, per_channel):
        if cost.convs:  # whole channels per core
            size = _largest_stop(cost, limits, 0, n, per_channel)
            size = max(per_channel, size // per_channel * per_channel)
        else:  # cost depends on the number of neurons only
            size = _largest_stop(cost, limits, 0, n, limits.neurons)
        starts = np.arange(0, n, size, dtype=np.int64)
        return np.stack([starts, np.minimum(starts + size, n)], axis=1)
    cuts, q, guess = [], 0, limits.neurons
    while q < per_channel:  # cut one channel; every channel is cut the same way
        stop = _largest_stop(cost, limits, q, per_channel, guess)
        cuts.append((q, stop))
        guess, q = stop - q, stop
    base = np.arange(n // per_channel, dtype=np.int64)[:, None, None] * per_channel
    return (base + np.asarray(cuts, dtype=np.int64)[None]).reshape(-1, 2)


def _output_axons_per_neuron(layer, layers, costs, ranges) -> np.ndarray:
    """Output axons each neuron of `layer` needs: one per destination core (+1 to the host)."""
    per_neuron = np.full(layer.neurons, 1 if layer.to_host else 0, dtype=np.int64)
    for consumer in layers:
        cost = costs[consumer.name]
        for syn in consumer.synapses:
            if syn.source != layer.name:
                continue
            if isinstance(syn, DenseSynapses):
                per_neuron += len(ranges[consumer.name])
                continue
            geo = next(g for s, g in cost.convs if s is syn)
            dest = np.zeros(syn.in_shape[1:], dtype=np.int64)
            runs = _segment_counts(cost, ranges[consumer.name])
            for segments, times in runs.items():  # channels cut alike share their segments
                dest += times * cost.needs(geo, segments)
            per_neuron += np.tile(dest.ravel(), syn.in_shape[0])  # same pixel, every channel
    return per_neuron


def _segment_counts(cost: _LayerCost, ranges) -> Counter:
    """How many cores of a layer hold each distinct channel run (vectorized for in-channel ranges)."""
    cut = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    q0 = cut[:, 0] % cost.per_channel
    q1 = q0 + cut[:, 1] - cut[:, 0]
    inside = q1 <= cost.per_channel
    keys, counts = np.unique(q0[inside] * (cost.per_channel + 1) + q1[inside], return_counts=True)
    a, b = np.divmod(keys, cost.per_channel + 1)
    runs = Counter({((1, qa, qb),): c for qa, qb, c in zip(a.tolist(), b.tolist(), counts.tolist())})
    runs.update(cost.segments(a, b) for a, b in cut[~inside].tolist())
    return runs


def _split_outputs(layer, ranges: np.ndarray, per_neuron: np.ndarray, limit: int) -> np.ndarray:
    """Cut cores further where their neurons' output axons add up to more than `limit`."""
    worst = int(per_neuron.max(initial=0))
    if worst > limit:
        raise DoesNotFitError(
            f"{layer.name}: Output axons ({worst}) exceeded max ({limit}) for a single neuron: its spikes "
            f"must reach {worst} cores; make the layers it feeds fit on fewer cores (fewer output "
            "channels or a smaller fan-in there)"
        )
    total = np.concatenate([[0], np.cumsum(per_neuron)])
    cut = np.asarray(ranges, dtype=np.int64).reshape(-1, 2)
    cur, stops, pieces = cut[:, 0].copy(), cut[:, 1], []
    while len(cur):  # greedy cuts, one step for all ranges at once
        nxt = np.minimum(np.searchsorted(total, total[cur] + limit, side="right") - 1, stops)
        pieces.append(np.stack([cur, nxt], axis=1))
        going = nxt < stops
        cur, stops = nxt[going], stops[going]
    pieces = np.concatenate(pieces)
    return pieces[np.argsort(pieces[:, 0], kind="stable")]


def _single_neuron_error(cost: _LayerCost, limits: _Limits, start: int) -> None:
    axons, bits = cost.range_cost(start, start + 1)
    key, used, cap = (("input_axons", axons, limits.input_axons) if axons > limits.input_axons
                      else ("synapse_bits", bits, limits.synapse_bits))
    raise DoesNotFitError(
        f"{cost.layer.name}: {_LIMIT_WORDS[key]} ({used}) exceeded max ({cap}) for a single neuron; "
        "reduce the layer's fan-in (fewer input channels or a smaller kernel)"
    )


def _check_chips(layers, ranges, per_chip: int, max_chips: int, at_least: bool) -> int:
    total_cores = sum(len(r) for r in ranges.values())
    chips = -(-total_cores // per_chip)
    if chips > max_chips:
        biggest = sorted(layers, key=lambda layer: -len(ranges[layer.name]))[:3]
        names = ", ".join(f"{layer.name} ({len(ranges[layer.name])} cores)" for layer in biggest)
        raise DoesNotFitError(
            f"The network needs {'at least ' if at_least else ''}{chips} chips, more than the target allows "
            f"(max_chips = {max_chips}): {total_cores} cores at {per_chip} per chip; largest layers: {names}; "
            "reduce channels or input size, or use a target profile with more chips"
        )
    return chips


def _assign(layers, profile, limits, costs, ranges, out_axons, chips) -> Placement:
    # Building 10^5 small objects triggers repeated full garbage collections that cost more than
    # the work itself; nothing here creates reference cycles, so collection can wait.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _assign_cores(layers, profile, limits, costs, ranges, out_axons, chips)
    finally:
        if was_enabled:
            gc.enable()


def _assign_cores(layers, profile, limits, costs, ranges, out_axons, chips) -> Placement:
    per_chip = profile.limits.cores_per_chip.value
    per_tile, tiles_x = profile.mesh.cores_per_tile.value, profile.mesh.tiles_x.value
    caps = np.array([getattr(limits, k) for k in LIMIT_KEYS], dtype=np.float64)
    cores, summaries = [], []
    for layer in layers:
        cut = np.asarray(ranges[layer.name], dtype=np.int64)
        cost = costs[layer.name]
        used = np.empty((len(cut), 4), dtype=np.int64)
        used[:, 0] = cut[:, 1] - cut[:, 0]
        used[:, 1:4:2] = [cost.range_cost(a, b) for a, b in cut.tolist()]  # input axons, synapse bits
        used[:, 2] = out_axons[layer.name][cut[:, 1]] - out_axons[layer.name][cut[:, 0]]
        util = np.round(used / caps, 6)  # placement.json keeps 6 decimals of each fraction
        assert (util <= 1.0).all(), (layer.name, util.max(axis=0))
        top = np.unravel_index(int(np.argmax(util)), util.shape)
        summaries.append(LayerPlacement(layer.name, layer.neurons, len(cut), LIMIT_KEYS[top[1]], float(util[top])))
        first = len(cores)
        for i, ((start, stop), u, f) in enumerate(zip(cut.tolist(), used.tolist(), util.tolist())):
            core_id = first + i
            tile = (core_id % per_chip) // per_tile
            cores.append(PlacedCore(
                core_id, layer.name, core_id // per_chip, tile, tile % tiles_x, tile // tiles_x,
                start, stop, u[0], u[1], u[2], u[3], dict(zip(LIMIT_KEYS, f)),
            ))
    return Placement(target=profile.name, chips=chips, cores=tuple(cores), layers=tuple(summaries))


def placement_table(placement: Placement) -> Table:
    """A rich table: layer, neurons, cores, and its fullest limit in % (for the export summary)."""
    table = Table(title=f"Placement on {placement.target}: {len(placement.cores)} cores, {placement.chips} chip(s)")
    for col in ("layer", "neurons", "cores", "fullest limit"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for layer in placement.layers:
        table.add_row(layer.name, f"{layer.neurons:,}", f"{layer.cores:,}",
                      f"{layer.fullest_limit} {100 * layer.fullest_fraction:.0f}%")
    return table
