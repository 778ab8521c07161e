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


def placement_from_dict(data: dict, label: str = "placement.json") -> Placement:
    """Check and rebuild a Placement; a wrong field is a one-line BundleError naming it."""
    if not isinstance(data, dict):
        raise BundleError(f"{label}: expected a JSON object")
    if data.get("format_version") != PLACEMENT_FORMAT_VERSION:
        old = " (neuron ranges in the old C,H,W order; re-export the bundle)" if data.get("format_version") == 1 else ""
        raise BundleError(
            f"{label}: format_version {data.get('format_version')!r} is not {PLACEMENT_FORMAT_VERSION}{old}"
        )
    if data.get("neuron_order") != NEURON_ORDER:
        raise BundleError(f"{label}: neuron_order {data.get('neuron_order')!r} is not {NEURON_ORDER!r}")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # 10^5 small objects, no cycles: skip the repeated full collections
    try:
        cores = tuple(PlacedCore(**c) for c in data["cores"])
        layers = tuple(LayerPlacement(**layer) for layer in data["layers"])
        placement = Placement(target=str(data["target"]), chips=int(data["chips"]), cores=cores, layers=layers)
    except KeyError as exc:
        raise BundleError(f"{label}: field {exc.args[0]} missing") from None
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{label}: {str(exc).splitlines()[0]}") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if [c.core_id for c in cores] != list(range(len(cores))):
        raise BundleError(f"{label}: core ids are not 0..{len(cores) - 1} in order")
    return placement


def read_placement(path: str | Path) -> Placement:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from None
    return placement_from_dict(data, str(path))
