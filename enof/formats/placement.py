"""placement.json (docs/design.md §5): which neurons of which layer sit on which core of which chip.

Written by the exporter (`enof.exporter.placement.place`), read by the runtime and the energy report.
A core of a 3-D layer (C, H, W) holds a box (`"neuron_order": "tiles"`): output rows [y0, y1) ×
columns [x0, x1) × channels [c0, c1), one block of the layer's tiling (`layers[].block`, rows × cols ×
channels, nengo-loihi's BlockShape); a core of any other layer (box null) holds the flat torch range
[neuron_start, neuron_stop). A layer's placement order is its cores' neurons in core order, a box
in (y, x, c) order, so [neuron_start, neuron_stop) is also every core's range in that order.
Every reader maps cores to torch indices with `core_neuron_indices` / `placement_order`.
`tile` is the tile index on its chip; (x, y) is that tile's column and row on
its chip (tile = y * tiles_x + x); chip c sits at (c % chips_x, c // chips_x) on the board.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from enof.errors import BundleError
from enof.formats.validation import Fields, check_header, parse_json, show
from enof.hardware_profiles import Profile

PLACEMENT_FORMAT_VERSION = 3  # 3: cores hold tiles (boxes); 2 was channels-last ranges, 1 torch C,H,W ranges
NEURON_ORDER = "tiles"
Box = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]  # (y0, y1), (x0, x1), (c0, c1)
# Per-core limits, in the order placement_table and error messages use.
LIMIT_KEYS = ("neurons", "input_axons", "output_axons", "synapse_bits")


def box_indices(box: Box, shape: tuple[int, ...]) -> np.ndarray:
    """Flat torch (C, H, W) indices of the neurons of a box of a (C, H, W) layer, in (y, x, c) order."""
    (y0, y1), (x0, x1), (c0, c1) = box
    _, h, w = (int(d) for d in shape)
    y, x, c = np.meshgrid(np.arange(y0, y1), np.arange(x0, x1), np.arange(c0, c1), indexing="ij")
    return (c * (h * w) + y * w + x).ravel().astype(np.int64)


def core_neuron_indices(core: "PlacedCore | Mapping", shape: tuple[int, ...]) -> np.ndarray:
    """Flat torch indices of the neurons a core (PlacedCore or placement.json core dict) holds."""
    if isinstance(core, Mapping):
        box = core.get("box")
        start, stop = int(core["neuron_start"]), int(core["neuron_stop"])
    else:
        box, start, stop = core.box, core.neuron_start, core.neuron_stop
    if box is None:
        return np.arange(start, stop, dtype=np.int64)
    return box_indices(tuple(tuple(int(v) for v in side) for side in box), shape)


def placement_order(shape: tuple[int, ...], cores) -> np.ndarray:
    """order[k] = flat torch index of the neuron at placement position k of a layer (a permutation),
    given the layer's cores (PlacedCores or core dicts)."""
    ordered = sorted(cores, key=lambda c: c["neuron_start"] if isinstance(c, Mapping) else c.neuron_start)
    return np.concatenate([core_neuron_indices(c, shape) for c in ordered])


@dataclass(frozen=True)
class PlacedCore:
    core_id: int
    layer: str
    chip: int
    tile: int
    x: int
    y: int
    neuron_start: int
    neuron_stop: int
    neurons: int
    input_axons: int
    output_axons: int
    synapse_bits: int
    utilization: dict[str, float]  # limit (LIMIT_KEYS) -> used / max
    box: Box | None = None  # a 3-D layer's tile; None: the flat torch range [neuron_start, neuron_stop)

    def __post_init__(self):
        if not 0 <= self.neuron_start < self.neuron_stop or self.neurons != self.neuron_stop - self.neuron_start:
            raise ValueError(f"core {self.core_id}: bad neuron range [{self.neuron_start}, {self.neuron_stop}) for {self.neurons} neurons")
        if self.box is not None and int(np.prod([b - a for a, b in self.box])) != self.neurons:
            raise ValueError(f"core {self.core_id}: box {self.box} does not hold its {self.neurons} neurons")


@dataclass(frozen=True)
class LayerPlacement:
    name: str
    neurons: int
    cores: int
    fullest_limit: str  # the limit closest to full on this layer's fullest core
    fullest_fraction: float
    block: tuple[int, int, int]  # rows, cols, channels of the layer's tiling ((1, 1, n) for a 1-D layer)


@dataclass(frozen=True)
class Placement:
    target: str
    chips: int
    cores: tuple[PlacedCore, ...]
    layers: tuple[LayerPlacement, ...]

    def to_dict(self) -> dict:
        return {
            "format_version": PLACEMENT_FORMAT_VERSION,
            "neuron_order": NEURON_ORDER,
            "target": self.target,
            "chips": self.chips,
            "cores": [_core_dict(c) for c in self.cores],
            "layers": [_layer_dict(layer) for layer in self.layers],
        }

    def to_json_bytes(self) -> bytes:
        """JSON with one core or layer per line: readable, diffable, and fast for 10^5 cores."""
        head = (f'"format_version": {PLACEMENT_FORMAT_VERSION}, "neuron_order": "{NEURON_ORDER}", '
                f'"target": {json.dumps(self.target)}, "chips": {self.chips}')
        names = {layer.name: json.dumps(layer.name) for layer in self.layers}
        cores = ",\n  ".join(_core_line(c, names.get(c.layer) or json.dumps(c.layer)) for c in self.cores)
        layers = ",\n  ".join(json.dumps(_layer_dict(layer)) for layer in self.layers)
        return f'{{{head},\n "layers": [\n  {layers}\n ],\n "cores": [\n  {cores}\n ]}}\n'.encode("utf-8")

    def cores_of(self, layer: str) -> list[PlacedCore]:
        return [c for c in self.cores if c.layer == layer]


def _layer_dict(layer: LayerPlacement) -> dict:
    return {**asdict(layer), "block": list(layer.block)}


def _core_dict(c: PlacedCore) -> dict:
    # asdict() deep-copies and is ~10x slower; placements can hold 10^5 cores
    return {"core_id": c.core_id, "layer": c.layer, "chip": c.chip, "tile": c.tile, "x": c.x, "y": c.y,
            "neuron_start": c.neuron_start, "neuron_stop": c.neuron_stop, "neurons": c.neurons,
            "input_axons": c.input_axons, "output_axons": c.output_axons, "synapse_bits": c.synapse_bits,
            "utilization": dict(c.utilization), "box": _box_json(c.box)}


def _box_json(box: Box | None):
    return None if box is None else [list(side) for side in box]


def _core_line(c: PlacedCore, layer_json: str) -> str:
    util = ", ".join(f"{json.dumps(k)}: {float(v)!r}" for k, v in c.utilization.items())
    return (f'{{"core_id": {c.core_id}, "layer": {layer_json}, "chip": {c.chip}, "tile": {c.tile}, "x": {c.x}, '
            f'"y": {c.y}, "neuron_start": {c.neuron_start}, "neuron_stop": {c.neuron_stop}, "neurons": {c.neurons}, '
            f'"input_axons": {c.input_axons}, "output_axons": {c.output_axons}, "synapse_bits": {c.synapse_bits}, '
            f'"utilization": {{{util}}}, "box": {json.dumps(_box_json(c.box))}}}')


def placement_from_dict(
    data, label: str = "placement.json", profile: Profile | None = None,
    layer_shapes: Mapping[str, tuple[int, ...]] | None = None,
) -> Placement:
    """Check and rebuild a Placement; a problem is one BundleError line naming the field.

    Always: format_version 2, neuron_order "hwc", the type and range of every field, core ids 0..n−1 in
    order, `chips` = the chips the cores use, and coverage: each layer's cores hold consecutive ranges that
    cover its neurons exactly once, and `layers` agrees with them. With the bundle's `profile`: the target
    name, every core within the profile's per-core limits, chip and tile occupancy, tiles on the mesh.
    With `layer_shapes` (the chip's LIF layers): exactly those layers, with those neuron counts."""
    f = Fields(label, BundleError)
    check_header(data, label, BundleError, version=PLACEMENT_FORMAT_VERSION, advice="re-export the bundle",
                 old_versions={1: "neuron ranges in the old C,H,W order; re-export the bundle",
                               2: "channels-last ranges, one weight set per pixel; re-export the bundle"})
    if data.get("neuron_order") != NEURON_ORDER:
        raise BundleError(f"{label}: neuron_order {show(data.get('neuron_order'))} is not {NEURON_ORDER!r}")
    target = f.string(f.get(data, "target"), "target")
    if profile is not None and target != profile.name:
        f.fail("target", f"is {show(target)}, but the bundle is for the {profile.name!r} profile")
    chips = f.integer(f.get(data, "chips"), "chips", 1, _INT64_MAX, "a 64-bit integer")
    layers = _checked_layers(f, f.array(f.get(data, "layers"), "layers", nonempty=True), layer_shapes)
    raw = f.array(f.get(data, "cores"), "cores", nonempty=True)
    for i, core in enumerate(raw):
        f.obj(core, f"cores[{i}]")
    columns = {key: f.column(raw, key, "cores", 0, _INT64_MAX, "a 64-bit integer") for key in _CORE_INTS}
    if columns["core_id"] != list(range(len(raw))):
        raise BundleError(f"{label}: core ids are not 0..{len(raw) - 1} in order")
    names = {layer.name: layer for layer in layers}
    for i, core in enumerate(raw):
        if f.string(f.get(core, "layer", f"cores[{i}]"), f"cores[{i}].layer") not in names:
            f.fail(f"cores[{i}].layer", f"is {show(core['layer'])}, not one of the layers in 'layers'")
        util = f.obj(f.get(core, "utilization", f"cores[{i}]"), f"cores[{i}].utilization")
        for key, value in util.items():
            f.string(key, f"cores[{i}].utilization", LIMIT_KEYS)
            f.number(value, f"cores[{i}].utilization.{key}", 0.0, 1.0, "a fraction of the core's limit")
    _check_cores(f, raw, {k: np.asarray(v, dtype=np.int64) for k, v in columns.items()}, chips, names, profile)
    boxes = [_checked_box(f, core, i) for i, core in enumerate(raw)]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # 10^5 small objects, no cycles: skip the repeated full collections
    try:
        cores = tuple(PlacedCore(**{k: c[k] for k in _CORE_FIELDS}, box=box) for c, box in zip(raw, boxes))
    except ValueError as exc:  # PlacedCore's own invariant (already checked above)
        raise BundleError(f"{label}: {str(exc).splitlines()[0]}") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if layer_shapes is not None:
        _check_tiles(f, cores, layer_shapes)
    return Placement(target=target, chips=chips, cores=cores, layers=layers)


def _checked_box(f: Fields, core: dict, i: int):
    box = f.get(core, "box", f"cores[{i}]")
    if box is None:
        return None
    sides = f.array(box, f"cores[{i}].box")
    if len(sides) != 3:
        f.fail(f"cores[{i}].box", "must be [[y0, y1], [x0, x1], [c0, c1]]")
    out = []
    for k, side in enumerate(sides):
        pair = f.array(side, f"cores[{i}].box[{k}]")
        if len(pair) != 2:
            f.fail(f"cores[{i}].box[{k}]", "must be [start, stop]")
        a, b = (f.integer(v, f"cores[{i}].box[{k}]", 0, _INT64_MAX, "a 64-bit integer") for v in pair)
        if a >= b:
            f.fail(f"cores[{i}].box[{k}]", f"is [{a}, {b}], an empty range")
        out.append((a, b))
    volume = int(np.prod([b - a for a, b in out]))
    if volume != int(core["neurons"]):
        f.fail(f"cores[{i}].box", f"holds {volume} neurons, but the core says neurons = {core['neurons']}")
    return tuple(out)


def _check_tiles(f: Fields, cores, layer_shapes) -> None:
    """A 3-D layer's cores hold boxes inside its (C, H, W) that cover every neuron exactly once."""
    by_layer: dict[str, list] = {}
    for core in cores:
        by_layer.setdefault(core.layer, []).append(core)
    for name, mine in by_layer.items():
        shape = tuple(layer_shapes[name])
        boxed = [c for c in mine if c.box is not None]
        if not boxed:
            continue
        if len(shape) != 3 or len(boxed) != len(mine):
            f.fail(f"cores[{mine[0].core_id}].box", f"tiles are for 3-D layers, every core of one; {name!r} is {shape}")
        cover = np.zeros(shape, dtype=np.int64)
        for core in boxed:
            (y0, y1), (x0, x1), (c0, c1) = core.box
            if y1 > shape[1] or x1 > shape[2] or c1 > shape[0]:
                f.fail(f"cores[{core.core_id}].box", f"{[list(s) for s in core.box]} reaches outside {name!r} of (C, H, W) = {shape}")
            cover[c0:c1, y0:y1, x0:x1] += 1
        if cover.max() > 1 or cover.min() < 1:
            c, y, x = np.unravel_index(int(np.argmax(cover != 1)), shape)
            f.fail("cores", f"the boxes of {name!r} hold neuron (c={c}, y={y}, x={x}) {int(cover[c, y, x])} times, not once")


_INT64_MAX = 2**63 - 1
_CORE_INTS = ("core_id", "chip", "tile", "x", "y", "neuron_start", "neuron_stop", "neurons",
              "input_axons", "output_axons", "synapse_bits")  # fmt: skip
_CORE_FIELDS = (*_CORE_INTS, "layer", "utilization")


def _checked_layers(f: Fields, raw: list, layer_shapes) -> tuple[LayerPlacement, ...]:
    layers = []
    for i, entry in enumerate(raw):
        where = f"layers[{i}]"
        f.obj(entry, where)
        layers.append(LayerPlacement(
            name=f.string(f.get(entry, "name", where), f"{where}.name"),
            neurons=f.integer(f.get(entry, "neurons", where), f"{where}.neurons", 1, _INT64_MAX, "a 64-bit integer"),
            cores=f.integer(f.get(entry, "cores", where), f"{where}.cores", 1, _INT64_MAX, "a 64-bit integer"),
            fullest_limit=f.string(f.get(entry, "fullest_limit", where), f"{where}.fullest_limit", LIMIT_KEYS),
            fullest_fraction=f.number(f.get(entry, "fullest_fraction", where), f"{where}.fullest_fraction", 0.0, 1.0,
                                      "a fraction of the core's limit"),
            block=tuple(f.integer(v, f"{where}.block", 1, _INT64_MAX, "a positive integer")
                        for v in _triple(f, f.get(entry, "block", where), f"{where}.block")),
        ))  # fmt: skip
    seen: set[str] = set()
    for i, layer in enumerate(layers):
        if layer.name in seen:
            f.fail(f"layers[{i}].name", f"is {layer.name!r} a second time")
        seen.add(layer.name)
    if layer_shapes is not None:
        for i, layer in enumerate(layers):
            if layer.name not in layer_shapes:
                f.fail(f"layers[{i}].name", f"is {layer.name!r}, not a LIF layer of chip.nir")
            want = int(np.prod(layer_shapes[layer.name], dtype=np.int64))
            if layer.neurons != want:
                f.fail(f"layers[{i}].neurons", f"is {layer.neurons}, but chip.nir's {layer.name!r} has {want} neurons")
        missing = [name for name in layer_shapes if name not in seen]
        if missing:
            raise BundleError(f"{f.label}: chip layer {missing[0]!r} is on no core (missing from 'layers')")
    return tuple(layers)


def _triple(f: Fields, value, where: str) -> list:
    items = f.array(value, where)
    if len(items) != 3:
        f.fail(where, "must be [rows, cols, channels]")
    return items


def _check_cores(f: Fields, raw: list, col: dict[str, np.ndarray], chips: int, layers: dict, profile) -> None:
    """Per-core ranges and limits, then coverage: every neuron of every layer on exactly one core."""
    start, stop = col["neuron_start"], col["neuron_stop"]
    bad = np.flatnonzero((start >= stop) | (col["neurons"] != stop - start))
    if bad.size:
        i = int(bad[0])
        f.fail(f"cores[{i}]", f"holds [{start[i]}, {stop[i]}) but says neurons = {col['neurons'][i]} (need start < stop, neurons = stop − start)")
    _at_most(f, col["chip"], chips - 1, "chip", "the placement's chips − 1")
    if int(col["chip"].max()) != chips - 1:
        f.fail("chips", f"is {chips}, but the cores use chips 0..{int(col['chip'].max())}")
    if profile is not None:
        lim, mesh = profile.limits, profile.mesh
        for key, limit in zip(LIMIT_KEYS, (lim.neurons_per_core, lim.input_axons_per_core, lim.output_axons_per_core,
                                           lim.synapse_bits_per_core)):  # fmt: skip
            _at_most(f, col[key], int(limit.value), key, f"the {profile.name} profile's {key} per core")
        tiles_x, tiles_y = int(mesh.tiles_x.value), int(mesh.tiles_y.value)
        _at_most(f, col["x"], tiles_x - 1, "x", f"the {profile.name} profile's tiles_x − 1")
        _at_most(f, col["y"], tiles_y - 1, "y", f"the {profile.name} profile's tiles_y − 1")
        wrong = np.flatnonzero(col["tile"] != col["y"] * tiles_x + col["x"])
        if wrong.size:
            i = int(wrong[0])
            f.fail(f"cores[{i}].tile", f"is {col['tile'][i]}, but (x, y) = ({col['x'][i]}, {col['y'][i]}) is tile {col['y'][i] * tiles_x + col['x'][i]}")
        for what, key, limit in (("chip", col["chip"], int(lim.cores_per_chip.value)),
                                 ("tile", col["chip"] * (tiles_x * tiles_y) + col["tile"], int(mesh.cores_per_tile.value))):
            values, counts = np.unique(key, return_counts=True)
            if counts.max() > limit:
                first = int(np.flatnonzero(key == values[int(np.argmax(counts))])[0])
                f.fail(f"cores[{first}]", f"shares its {what} with {int(counts.max()) - 1} other cores; the "
                                          f"{profile.name} profile allows {limit} cores per {what}")
    layer_of = np.array([c["layer"] for c in raw], dtype=object)
    for name, layer in layers.items():
        mine = np.flatnonzero(layer_of == name)
        if mine.size != layer.cores:
            f.fail(f"layers[{list(layers).index(name)}].cores", f"is {layer.cores}, but {mine.size} cores hold {name!r}")
        order = mine[np.argsort(start[mine], kind="stable")]
        starts, stops = start[order], stop[order]
        expected = np.concatenate([[0], stops[:-1]])
        off = np.flatnonzero(starts != expected)
        if off.size:
            k = int(off[0])
            where = f"cores[{int(order[k])}]"
            if starts[k] < expected[k]:
                f.fail(where, f"holds [{starts[k]}, {stops[k]}) of {name!r}, overlapping core {int(order[k - 1])}'s [{starts[k - 1]}, {stops[k - 1]})")
            f.fail(where, f"starts at neuron {starts[k]} of {name!r}: neurons [{expected[k]}, {starts[k]}) are on no core")
        if int(stops[-1]) != layer.neurons:
            problem = "beyond the layer's" if stops[-1] > layer.neurons else "leaving the rest of its"
            f.fail(f"cores[{int(order[-1])}]", f"ends {name!r} at neuron {stops[-1]}, {problem} {layer.neurons} neurons"
                   + ("" if stops[-1] > layer.neurons else " on no core"))


def _at_most(f: Fields, values: np.ndarray, high: int, key: str, why: str) -> None:
    over = np.flatnonzero(values > high)
    if over.size:
        i = int(over[0])
        f.outside(int(values[i]), f"cores[{i}].{key}", 0, high, why)


def read_placement(
    path: str | Path, profile: Profile | None = None, layer_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> Placement:
    """Read and check placement.json (see placement_from_dict)."""
    return placement_from_dict(read_placement_json(path), str(path), profile, layer_shapes)


def read_placement_json(path: str | Path):
    """The parsed JSON of placement.json (unchecked: pass it to placement_from_dict)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_json(raw, str(path), BundleError)
