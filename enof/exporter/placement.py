"""Place a spiking network's layers onto the cores and chips of a target, within every core limit.

`place(layers, profile) -> Placement` is a pure function. Every core holds one block of its layer's
tiling: output rows × columns × a channel group (nengo-loihi's BlockShape), chosen per layer for
the fewest cores such that every core respects
  neurons ≤ neurons_per_core, input axons ≤ input_axons_per_core,
  output axons ≤ output_axons_per_core, synapse bits ≤ synapse_bits_per_core
under nengo-loihi 1.1.0's resource model and the profile's conv_weight_storage (placement_cost.py:
what a core costs; placement_cut.py: how a layer is tiled). Output axons depend on the consumers'
tiles, so layers are tiled consumers first. Cores are packed into chips in layer order and given
a tile of the mesh and its (x, y) on the chip (tile = y * tiles_x + x).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import numpy as np
from rich.table import Table

from enof.errors import DoesNotFitError
from enof.exporter.placement_cost import LayerCost, SynapseEncoding, axis_blocks, conv_blocks
from enof.exporter.placement_cut import LIMIT_WORDS, OutputAxons, choose_block
from enof.formats.placement import LIMIT_KEYS, LayerPlacement, PlacedCore, Placement
from enof.hardware_profiles import Profile
from enof.synapses import Connection
from enof.synapses.conv import conv_output_size

HOST = "input"  # source name of synapses whose spikes come from the host, not from a chip layer


def conv_synapses(source: str, in_shape: tuple[int, int, int], out_channels: int, kernel: tuple[int, int],
                  stride: tuple[int, int] = (1, 1), padding: tuple[int, int] = (0, 0)) -> Connection:
    """A conv from the (C, H, W) neurons of ``source`` (a chip layer name or "input") into ``out_channels``
    channels, its output size from the geometry."""
    out = (conv_output_size(in_shape[1 + d], kernel[d], stride[d], padding[d]) for d in range(2))
    return Connection("conv", in_shape, (out_channels, *out), kernel, stride, padding, source=source)


def dense_synapses(source: str, n_in: int, out_shape: tuple[int, ...]) -> Connection:
    """All-to-all synapses from the ``n_in`` neurons of ``source`` into every neuron of a layer of ``out_shape``."""
    return Connection("dense", (n_in,), tuple(out_shape), source=source)


@dataclass(frozen=True)
class LayerSpec:
    """One chip layer of neurons (a LIF node) and the synapse groups that feed it.

    shape: (C, H, W) or (N,). synapses: the Connections summed into it (``source`` names the chip layer or
    "input" they come from; a residual join has two); empty for a layer driven by input current from the
    host. to_host: its spikes leave the chip (one output axon per neuron). weight_bits: of every synapse.
    """

    name: str
    shape: tuple[int, ...]
    synapses: tuple[Connection, ...] = ()
    to_host: bool = False
    weight_bits: int = 8
    neurons: int = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "neurons", int(np.prod(self.shape)))
        for syn in self.synapses:
            if not syn.fits(syn.source_shape, self.shape):
                raise ValueError(f"{self.name}: {syn.kind} from {syn.source} gives {syn.target_shape}, layer shape is "
                                 f"{self.shape}")


@dataclass(frozen=True)
class _Limits:
    neurons: int
    input_axons: int
    output_axons: int
    synapse_bits: int


def place(layers: list[LayerSpec], profile: Profile, max_chips: int | None = None) -> Placement:
    """Tile every layer into cores within the profile's limits and pack the cores into chips.

    Layers must come in an order where a layer's chip sources precede it. Raises DoesNotFitError
    (naming the layer, the limit, the numbers and a way out) when a single neuron exceeds a core
    or the network needs more than `max_chips` (default: the profile's) chips.
    """
    lim = profile.limits
    limits = _Limits(lim.neurons_per_core.value, lim.input_axons_per_core.value,
                     lim.output_axons_per_core.value, lim.synapse_bits_per_core.value)
    enc = SynapseEncoding(lim.synapse_word_bits.value, lim.synapse_axon_overhead_bits.value,
                          lim.synapse_index_bits.value, lim.synapses_per_axon_block.value,
                          lim.synapse_index_bits_min.value)
    storage = lim.conv_weight_storage.value
    max_chips = lim.max_chips.value if max_chips is None else max_chips
    _check_graph(layers, profile)
    costs = {layer.name: LayerCost(layer, enc, storage, lim.axon_compartment_base_max.value) for layer in layers}
    blocks: dict[str, tuple[int, int, int]] = {}
    outs = {}
    for layer in reversed(layers):  # consumers first: a layer's destinations are final when it is tiled
        consumers = [(c, syn, blocks[c.name], conv_blocks(costs[c.name].shape3, blocks[c.name]))
                     for c in layers for syn in c.synapses if syn.source == layer.name]
        outs[layer.name] = OutputAxons(layer, consumers, lim.population_axon_slots.value, storage)
        blocks[layer.name] = choose_block(costs[layer.name], outs[layer.name], limits)
    chips = _check_chips(layers, costs, blocks, outs, limits, lim, max_chips)
    return _assign(layers, profile, limits, costs, blocks, outs, chips)


def _check_graph(layers: list[LayerSpec], profile: Profile) -> None:
    seen: dict[str, LayerSpec] = {}
    for layer in layers:
        if layer.name in seen or layer.name == HOST:
            raise ValueError(f"layer name {layer.name!r} used twice or reserved")
        if layer.synapses and layer.weight_bits > profile.fixed_point.weight_bits.value:
            raise DoesNotFitError(
                f"{layer.name}: {layer.weight_bits}-bit weights exceed the target's "
                f"{profile.fixed_point.weight_bits.value} bits; quantize to fewer bits"
            )
        for syn in layer.synapses:
            if syn.source == HOST:
                continue
            src = seen.get(syn.source)
            if src is None:
                raise ValueError(f"{layer.name}: source {syn.source!r} is not a chip layer placed before it")
            if not syn.fits(src.shape, layer.shape):
                raise ValueError(f"{layer.name}: source {syn.source} has shape {src.shape}, synapses expect {syn.source_shape}")
        seen[layer.name] = layer


def _check_chips(layers, costs, blocks, outs, limits, lim, max_chips: int) -> int:
    per_chip = lim.cores_per_chip.value
    cores = {layer.name: conv_blocks(costs[layer.name].shape3, blocks[layer.name]) for layer in layers}
    total = sum(cores.values())
    chips = -(-total // per_chip)
    if chips > max_chips:
        raise DoesNotFitError(_too_many_chips(layers, costs, blocks, outs, cores, limits, total, chips, per_chip,
                                              max_chips))
    return chips


def _too_many_chips(layers, costs, blocks, outs, cores, limits, total, chips, per_chip, max_chips) -> str:
    """The one line: chips needed, the limit that binds most and on how many layers (each layer's fullest
    core under all four limits), the largest layers, and the flag or profile field that changes it."""
    binding: dict[str, list[float]] = {}
    for layer in layers:
        block = blocks[layer.name]
        axons, bits = costs[layer.name].worst(block)
        used = {"neurons": min(block[0] * block[1] * block[2], layer.neurons), "input_axons": axons,
                "output_axons": outs[layer.name].worst(block), "synapse_bits": bits}
        key = max(used, key=lambda k: used[k] / getattr(limits, k))
        binding.setdefault(key, []).append(used[key] / getattr(limits, key))
    # most layers first; among equals the one binding hardest
    key, fractions = max(binding.items(), key=lambda kv: (len(kv[1]), max(kv[1])))
    biggest = sorted(layers, key=lambda layer: -cores[layer.name])[:3]
    names = ", ".join(f"{layer.name} ({cores[layer.name]:,} cores)" for layer in biggest)
    span = f"{100 * min(fractions):.0f}–{100 * max(fractions):.0f}%" if len(fractions) > 1 else f"{100 * fractions[0]:.0f}%"
    return (f"The network needs {chips} chips, more than the target allows (max_chips = {max_chips}): "
            f"{total:,} cores at {per_chip} per chip; {LIMIT_WORDS[key].lower()} binds at {span} of a core on "
            f"{len(fractions)} of {len(layers)} layers; largest layers: {names}; pass a larger --max-chips, reduce "
            f"channels or input size, or use a profile with a larger [limits] max_chips or {key}_per_core")


def _assign(layers, profile, limits, costs, blocks, outs, chips) -> Placement:
    # Building 10^5 small objects triggers repeated full garbage collections that cost more than
    # the work itself; nothing here creates reference cycles, so collection can wait.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _assign_cores(layers, profile, limits, costs, blocks, outs, chips)
    finally:
        if was_enabled:
            gc.enable()


def _assign_cores(layers, profile, limits, costs, blocks, outs, chips) -> Placement:
    per_chip = profile.limits.cores_per_chip.value
    per_tile, tiles_x = profile.mesh.cores_per_tile.value, profile.mesh.tiles_x.value
    caps = np.array([getattr(limits, k) for k in LIMIT_KEYS], dtype=np.float64)
    cores, summaries = [], []
    for layer in layers:
        cost, block = costs[layer.name], blocks[layer.name]
        c, h, w = cost.shape3
        fixed, per_channel = outs[layer.name].terms(block[0], block[1])
        boxes, used = [], []
        for rb, rows in enumerate(axis_blocks(h, block[0])):
            for cb, cols in enumerate(axis_blocks(w, block[1])):
                for channels in axis_blocks(c, block[2]):
                    n = channels[1] - channels[0]
                    axons, bits = cost.box_cost(rows, cols, n)
                    out = int(fixed[rb, cb] + per_channel[rb, cb] * n)
                    boxes.append((rows, cols, channels))
                    used.append(((rows[1] - rows[0]) * (cols[1] - cols[0]) * n, axons, out, bits))
        used = np.asarray(used, dtype=np.int64)
        util = np.round(used / caps, 6)  # placement.json keeps 6 decimals of each fraction
        assert (util <= 1.0).all(), (layer.name, util.max(axis=0))
        top = np.unravel_index(int(np.argmax(util)), util.shape)
        summaries.append(LayerPlacement(layer.name, layer.neurons, len(boxes), LIMIT_KEYS[top[1]], float(util[top]),
                                        block if len(layer.shape) == 3 else (1, 1, block[2])))
        start = 0
        for box, u, frac in zip(boxes, used.tolist(), util.tolist()):
            core_id = len(cores)
            tile = (core_id % per_chip) // per_tile
            stop = start + u[0]
            flat = len(layer.shape) != 3  # a 1-D layer's core is its flat range (the box's channels)
            cores.append(PlacedCore(
                core_id, layer.name, core_id // per_chip, tile, tile % tiles_x, tile // tiles_x,
                box[2][0] if flat else start, box[2][1] if flat else stop, u[0], u[1], u[2], u[3],
                dict(zip(LIMIT_KEYS, frac)), None if flat else box,
            ))
            start = stop
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
