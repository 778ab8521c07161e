"""placement.json (docs/design.md §5): which neurons of which layer sit on which core of which chip.

Written by the exporter (`enof.exporter.placement.place`), read by the runtime and the energy report.
A core holds the contiguous range [neuron_start, neuron_stop) of one layer's neurons in the
placement order (`"neuron_order": "hwc"`): a 3-D layer (C, H, W) is flattened channels-last,
position = (y * W + x) * C + c, so a core holds consecutive pixels with all their channels (or part
of one pixel's channels when they exceed a core); any other layer keeps its flat torch order.
Every reader maps ranges to torch indices with `core_neuron_indices` / `placement_order`.
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

PLACEMENT_FORMAT_VERSION = 2  # 2: neuron ranges in channels-last ("hwc") order; 1 was torch C,H,W
NEURON_ORDER = "hwc"
# Per-core limits, in the order placement_table and error messages use.
LIMIT_KEYS = ("neurons", "input_axons", "output_axons", "synapse_bits")


def neuron_indices(start: int, stop: int, shape: tuple[int, ...]) -> np.ndarray:
    """Flat torch indices (C, H, W order for 3-D) of placement positions [start, stop) of a layer of `shape`."""
    positions = np.arange(start, stop, dtype=np.int64)
    if len(shape) != 3:
        return positions
    channels, h, w = (int(d) for d in shape)
    pixel, channel = np.divmod(positions, channels)
    return channel * (h * w) + pixel


def core_neuron_indices(core: "PlacedCore | Mapping", shape: tuple[int, ...]) -> np.ndarray:
    """Flat torch indices of the neurons a core (PlacedCore or placement.json core dict) holds."""
    if isinstance(core, Mapping):
        return neuron_indices(int(core["neuron_start"]), int(core["neuron_stop"]), shape)
    return neuron_indices(core.neuron_start, core.neuron_stop, shape)


def placement_order(shape: tuple[int, ...]) -> np.ndarray:
    """order[k] = flat torch index of the neuron at placement position k (a permutation)."""
    return neuron_indices(0, int(np.prod(shape, dtype=np.int64)), tuple(shape))


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

    def __post_init__(self):
        if not 0 <= self.neuron_start < self.neuron_stop or self.neurons != self.neuron_stop - self.neuron_start:
            raise ValueError(f"core {self.core_id}: bad neuron range [{self.neuron_start}, {self.neuron_stop}) for {self.neurons} neurons")


@dataclass(frozen=True)
class LayerPlacement:
    name: str
    neurons: int
    cores: int
    fullest_limit: str  # the limit closest to full on this layer's fullest core
    fullest_fraction: float


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
            "layers": [asdict(layer) for layer in self.layers],
        }

    def to_json_bytes(self) -> bytes:
        """JSON with one core or layer per line: readable, diffable, and fast for 10^5 cores."""
        head = (f'"format_version": {PLACEMENT_FORMAT_VERSION}, "neuron_order": "{NEURON_ORDER}", '
                f'"target": {json.dumps(self.target)}, "chips": {self.chips}')
        names = {layer.name: json.dumps(layer.name) for layer in self.layers}
        cores = ",\n  ".join(_core_line(c, names.get(c.layer) or json.dumps(c.layer)) for c in self.cores)
        layers = ",\n  ".join(json.dumps(asdict(layer)) for layer in self.layers)
        return f'{{{head},\n "layers": [\n  {layers}\n ],\n "cores": [\n  {cores}\n ]}}\n'.encode("utf-8")

    def cores_of(self, layer: str) -> list[PlacedCore]:
        return [c for c in self.cores if c.layer == layer]


def _core_dict(c: PlacedCore) -> dict:
    # asdict() deep-copies and is ~10x slower; placements can hold 10^5 cores
    return {"core_id": c.core_id, "layer": c.layer, "chip": c.chip, "tile": c.tile, "x": c.x, "y": c.y,
            "neuron_start": c.neuron_start, "neuron_stop": c.neuron_stop, "neurons": c.neurons,
            "input_axons": c.input_axons, "output_axons": c.output_axons, "synapse_bits": c.synapse_bits,
            "utilization": dict(c.utilization)}


def _core_line(c: PlacedCore, layer_json: str) -> str:
    util = ", ".join(f"{json.dumps(k)}: {float(v)!r}" for k, v in c.utilization.items())
    return (f'{{"core_id": {c.core_id}, "layer": {layer_json}, "chip": {c.chip}, "tile": {c.tile}, "x": {c.x}, '
            f'"y": {c.y}, "neuron_start": {c.neuron_start}, "neuron_stop": {c.neuron_stop}, "neurons": {c.neurons}, '
            f'"input_axons": {c.input_axons}, "output_axons": {c.output_axons}, "synapse_bits": {c.synapse_bits}, '
            f'"utilization": {{{util}}}}}')


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
                 old_versions={1: "neuron ranges in the old C,H,W order; re-export the bundle"})
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
    gc_was_enabled = gc.isenabled()
    gc.disable()  # 10^5 small objects, no cycles: skip the repeated full collections
    try:
        cores = tuple(PlacedCore(**{k: c[k] for k in _CORE_FIELDS}) for c in raw)
    except ValueError as exc:  # PlacedCore's own invariant (already checked above)
        raise BundleError(f"{label}: {str(exc).splitlines()[0]}") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    return Placement(target=target, chips=chips, cores=cores, layers=layers)


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
