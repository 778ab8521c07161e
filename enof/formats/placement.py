"""placement.json (docs/design.md §5): which neurons of which layer sit on which core of which chip.

Written by the exporter (`enof.exporter.placement.place`), read by the runtime and the energy report.
A core holds the contiguous range [neuron_start, neuron_stop) of one layer's neurons, flattened in
torch (C, H, W) order. `tile` is the tile index on its chip; (x, y) is that tile's column and row on
its chip (tile = y * tiles_x + x); chip c sits at (c % chips_x, c // chips_x) on the board.
"""

from __future__ import annotations

import gc
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from enof.errors import BundleError

PLACEMENT_FORMAT_VERSION = 1
# Per-core limits, in the order placement_table and error messages use.
LIMIT_KEYS = ("neurons", "input_axons", "output_axons", "synapse_bits")


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
            "target": self.target,
            "chips": self.chips,
            "cores": [_core_dict(c) for c in self.cores],
            "layers": [asdict(layer) for layer in self.layers],
        }

    def to_json_bytes(self) -> bytes:
        """JSON with one core or layer per line: readable, diffable, and fast for 10^5 cores."""
        head = f'"format_version": {PLACEMENT_FORMAT_VERSION}, "target": {json.dumps(self.target)}, "chips": {self.chips}'
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
        raise BundleError(
            f"{label}: format_version {data.get('format_version')!r} is not {PLACEMENT_FORMAT_VERSION}"
        )
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
