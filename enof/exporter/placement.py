"""Place a spiking network's layers onto the cores and chips of a target, within every core limit.

`place(layers, profile) -> Placement` is a pure function. Each layer's neurons, in the placement
order of placement.json (channels-last for a (C, H, W) layer: consecutive pixels with all their
channels; enof.formats.placement), are cut into contiguous ranges, one per core, such that every core
respects
  neurons ≤ neurons_per_core, input axons ≤ input_axons_per_core,
  output axons ≤ output_axons_per_core, synapse bits ≤ synapse_bits_per_core
under nengo-loihi's resource model (block.py, builder/conv.py; arithmetic and exactness in
placement_cost.py): conv groups use population axons (one per input pixel, the channel as the atom;
one weight set per pixel: an upper bound on synapse memory) when the profile sets
conv_population_axons, else one axon per presynaptic neuron (exact); dense groups one axon per
presynaptic neuron (two groups from the same source are counted separately: an upper bound);
output axons one per (neuron, destination core) pair, plus one per neuron read by the host (exact
for discrete axons, an upper bound for population axons, which could share one per pixel).
Cores are packed into chips in layer order and given a tile and its (x, y) on the chip
(tile = y * tiles_x + x).

How ranges are chosen (placement_cut.py): a 3-D layer whose every single pixel (all C channels)
fits a core is cut into runs of whole pixels, greedily along the raster order; otherwise each pixel
is cut into equal channel chunks, as few as its own taps and output axons allow. 1-D layers get
equal ranges. A first pass without output axons fails early when even that needs too many chips;
then layers are cut again consumers-first, with every neuron's output axons known. Channels-last
cores keep a conv neuron's destinations local: it reaches only the cores holding the few output
pixels around it. What binds wide conv layers now is synapse memory: a core holding all C_out
channels of a pixel stores C_in · taps · C_out weights that cannot be shared with other cores.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import numpy as np
from rich.table import Table

from enof.errors import DoesNotFitError
from enof.exporter.placement_cut import cut_layer
from enof.exporter.placement_cost import ConvGeometry, SynapseEncoding, conv_destinations, pixel_segments
from enof.formats.placement import LIMIT_KEYS, LayerPlacement, PlacedCore, Placement
from enof.geometry import conv_output_size
from enof.hardware_profiles import Profile

HOST = "input"  # source name of synapses whose spikes come from the host, not from a chip layer



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
            conv_output_size(self.in_shape[1 + d], self.kernel[d], self.stride[d], self.padding[d]) for d in range(2)
        )

    @property
    def source_shape(self) -> tuple[int, ...]:
        return self.in_shape

    def accepts_source(self, shape: tuple[int, ...]) -> bool:
        return tuple(shape) == self.in_shape

    def check_target(self, layer: str, shape: tuple[int, ...]) -> None:
        if len(shape) != 3 or tuple(shape[1:]) != self.out_hw():
            raise ValueError(f"{layer}: conv from {self.source} gives {self.out_hw()}, layer shape is {shape}")

    def output_axons(self, target_shape: tuple[int, ...], starts: np.ndarray) -> np.ndarray:
        """Per source neuron (channels-last): the target cores (first positions ``starts``) it reaches."""
        dest = conv_destinations(self.in_shape[1:], target_shape, self.kernel, self.stride, self.padding, starts)
        return np.repeat(dest.ravel(), self.in_shape[0])  # every channel of a pixel alike


@dataclass(frozen=True)
class DenseSynapses:
    """All-to-all synapses from the `n_in` neurons of `source` into every neuron of the layer."""

    source: str
    n_in: int
    weight_bits: int = 8

    @property
    def source_shape(self) -> tuple[int, ...]:
        return (self.n_in,)

    def accepts_source(self, shape: tuple[int, ...]) -> bool:
        """Any source shape of n_in neurons: dense flattens it."""
        return int(np.prod(shape)) == self.n_in

    def check_target(self, layer: str, shape: tuple[int, ...]) -> None:
        """Any target shape: the layer is flattened."""

    def output_axons(self, target_shape: tuple[int, ...], starts: np.ndarray) -> np.ndarray:
        """Per source neuron: every target core."""
        return np.full(self.n_in, len(starts), dtype=np.int64)


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
            syn.check_target(self.name, self.shape)


@dataclass(frozen=True)
class _Limits:
    neurons: int
    input_axons: int
    output_axons: int
    synapse_bits: int


class _LayerCost:
    """Input axons and synapse bits of any channels-last neuron range of one layer.

    population: conv groups use population axons (one per input pixel, C_in · n synapses in its
    weight set) instead of one axon per presynaptic neuron (C_in axons of n synapses)."""

    def __init__(self, layer: LayerSpec, enc: SynapseEncoding, population: bool):
        self.layer, self.enc, self.population = layer, enc, population
        self.channels = layer.shape[0] if len(layer.shape) == 3 else layer.neurons  # neurons per pixel
        self.convs = [(s, ConvGeometry(s.in_shape, s.out_hw(), s.kernel, s.stride, s.padding))
                      for s in layer.synapses if isinstance(s, ConvSynapses)]
        self.denses = [s for s in layer.synapses if isinstance(s, DenseSynapses)]
        # per conv group: taps of each output pixel, and input axons per tap
        pixels = int(np.prod(layer.shape[1:])) if len(layer.shape) == 3 else 1
        self.taps = np.array([geo.taps for _, geo in self.convs], dtype=np.int64).reshape(len(self.convs), pixels)
        self.axons_per_tap = np.array([1 if population else s.in_shape[0] for s, _ in self.convs], dtype=np.int64)
        self.pixel_axons = self.axons_per_tap @ self.taps if self.convs else np.zeros(1, dtype=np.int64)

    def range_cost(self, start: int, stop: int) -> tuple[int, int]:
        pixel = start // self.channels
        if not self.convs or (stop - 1) // self.channels == pixel:  # inside one pixel: one input pixel per tap
            axons, bits = self.chunk_cost(stop - start, pixel)
            return int(axons[0]), int(bits[0])
        axons, bits = self._dense_cost(stop - start)
        segments = pixel_segments(start, stop, self.channels)
        for syn, geo in self.convs:
            n = geo.counts(segments)
            c_in = syn.in_shape[0]
            if self.population:
                axons += int(np.count_nonzero(n))
                bits += int(self.enc.axon_bits(c_in * n, syn.weight_bits).sum())
            else:
                axons += c_in * int(np.count_nonzero(n))
                bits += c_in * int(self.enc.axon_bits(n, syn.weight_bits).sum())
        return int(axons), int(bits)

    def chunk_cost(self, channels, pixels=slice(None)) -> tuple[np.ndarray, np.ndarray]:
        """Input axons and synapse bits of cores holding `channels` (scalar or per pixel) channels of one
        pixel each, for the output pixels `pixels` (index or slice of the H*W plane)."""
        c = np.asarray(channels, dtype=np.int64)
        axons, bits = self._dense_cost(c)
        if not self.convs:
            return np.atleast_1d(axons), np.atleast_1d(bits)
        taps = self.taps[:, pixels].reshape(len(self.convs), -1)
        axons = axons + self.pixel_axons[pixels]
        for g, (syn, _) in enumerate(self.convs):
            c_in = syn.in_shape[0]
            per_tap = (self.enc.axon_bits(c_in * c, syn.weight_bits) if self.population
                       else c_in * self.enc.axon_bits(c, syn.weight_bits))
            bits = bits + taps[g] * per_tap
        return np.atleast_1d(axons), np.atleast_1d(bits)

    def _dense_cost(self, neurons):
        axons = bits = 0
        for syn in self.denses:
            axons += syn.n_in
            bits = bits + syn.n_in * self.enc.axon_bits(neurons, syn.weight_bits)
        return axons, bits


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
    population = bool(lim.conv_population_axons.value)
    costs = {layer.name: _LayerCost(layer, enc, population) for layer in layers}
    ranges = {layer.name: cut_layer(costs[layer.name], limits) for layer in layers}
    per_chip = lim.cores_per_chip.value
    _check_chips(layers, ranges, per_chip, max_chips, at_least=True)  # early: output axons only add cores
    out_axons = {}
    for layer in reversed(layers):  # consumers first: a layer's destinations are final when it is cut
        per_neuron = _output_axons_per_neuron(layer, layers, ranges)
        ranges[layer.name] = cut_layer(costs[layer.name], limits, per_neuron)
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
            if not syn.accepts_source(src.shape):
                raise ValueError(f"{layer.name}: source {syn.source} has shape {src.shape}, synapses expect {syn.source_shape}")
        seen[layer.name] = layer


def _output_axons_per_neuron(layer, layers, ranges) -> np.ndarray:
    """Output axons each neuron of `layer` (channels-last order) needs: one per destination core (+1 to the host)."""
    per_neuron = np.full(layer.neurons, 1 if layer.to_host else 0, dtype=np.int64)
    for consumer in layers:
        for syn in consumer.synapses:
            if syn.source == layer.name:
                per_neuron += syn.output_axons(consumer.shape, np.asarray(ranges[consumer.name], dtype=np.int64)[:, 0])
    return per_neuron


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
