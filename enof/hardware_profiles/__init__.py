"""Hardware profiles: one TOML file per target, every number beside its source and grade.

`load_profile("loihi")` reads a built-in profile, `load_profile("my/chip.toml")` a user file;
both are checked against the schema of docs/design.md §4 and returned as frozen dataclasses:

    profile.limits.neurons_per_core.value     # 1024
    profile.limits.neurons_per_core.source    # "Davies 2018 ...; nengo-loihi block.py ..."
    profile.cost_models["davies2018"].synop_pj.value

Adding a target is adding a file; no code here knows a chip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from enof.errors import ProfileError
from enof.hardware_profiles.fields import (
    _BARRIER,
    _BOOL,
    _INT,
    _NUM,
    _STR,
    GRADES,
    Quantity,
    _no_unknown,
    _quantity,
    _table,
    grades_of,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (Lava's own pin): the same parser, as the tomli package
    import tomli as tomllib

PROFILE_DIR = Path(__file__).parent

# How a target stores conv weights (enof.exporter.placement_cost): one weight set per presynaptic
# neuron ("discrete"), nengo-loihi's population axons with shared weight sets ("population", Loihi 1),
# or one kernel copy per core ("kernel_per_core", Loihi 2).
CONV_WEIGHT_STORAGES = ("discrete", "population", "kernel_per_core")

@dataclass(frozen=True)
class TargetSection:
    name: str
    description: str
    graded_spikes: Quantity
    graded_spike_bits: Quantity


@dataclass(frozen=True)
class LimitsSection:
    """Per-core and per-board limits the placer enforces (nengo-loihi block.py model)."""

    cores_per_chip: Quantity
    max_chips: Quantity
    neurons_per_core: Quantity
    input_axons_per_core: Quantity
    output_axons_per_core: Quantity
    synapse_bits_per_core: Quantity
    synapse_word_bits: Quantity
    synapse_axon_overhead_bits: Quantity
    synapse_index_bits: Quantity  # the widest synapse index (a core's compartments need at most this)
    synapse_index_bits_min: Quantity  # the narrowest index width the synapse encoding offers
    synapses_per_axon_block: Quantity
    conv_weight_storage: Quantity  # one of CONV_WEIGHT_STORAGES: how the target stores a conv's weights
    axon_compartment_base_max: Quantity
    population_axon_slots: Quantity


MAX_STATE_BITS = 32  # the widest u, v and graded payload whose products the simulator's int64 arithmetic holds


@dataclass(frozen=True)
class FixedPointSection:
    weight_bits: Quantity
    weight_exp_min: Quantity
    weight_exp_max: Quantity
    vth_mant_bits: Quantity
    bias_mant_bits: Quantity
    bias_exp_max: Quantity
    decay_bits: Quantity
    state_bits: Quantity


@dataclass(frozen=True)
class MeshSection:
    """Cores are grouped in tiles (one mesh router each); tiles form a tiles_x × tiles_y grid."""

    cores_per_tile: Quantity
    tiles_x: Quantity
    tiles_y: Quantity
    chips_x: Quantity
    chips_y: Quantity


@dataclass(frozen=True)
class TimingSection:
    """The chip's time (docs/chip-time.md): per-operation latencies within a step, mesh hops, the barrier
    by tiles in use, and the host<->chip link."""

    synop_ns: Quantity  # per synaptic event, at the receiving core
    message_in_ns: Quantity  # per spike message arriving at a core
    neuron_update_ns: Quantity  # per neuron per step (every LIF leaks: every neuron is updated)
    spike_out_ns: Quantity  # per spike
    message_out_ns: Quantity  # per spike message sent
    hop_ew_ns: Quantity
    hop_ns_ns: Quantity
    barrier_us: Quantity  # [[tiles, µs], ...] ascending: a count takes the largest key ≤ it (SANA-FE's table)
    host_to_chip_bytes_per_s: Quantity
    chip_to_host_bytes_per_s: Quantity
    host_io_latency_us: Quantity  # fixed cost of a step's host transfer

    def barrier(self, tiles: int) -> float:
        """Barrier time in µs for ``tiles`` tiles in use."""
        table = self.barrier_us.value
        return float(next((us for key, us in reversed(table) if key <= tiles), table[0][1]))


@dataclass(frozen=True)
class CostModel:
    """An energy model: per-operation energies (pJ), static power (W) and what it ignores."""

    name: str
    description: str
    leaves_out: tuple[str, ...]
    synop_pj: Quantity | None = None
    graded_synop_pj: Quantity | None = None  # a graded (multi-bit) event into a synapse: a multiply-add
    neuron_update_active_pj: Quantity | None = None
    neuron_update_inactive_pj: Quantity | None = None
    spike_within_tile_pj: Quantity | None = None
    hop_ew_pj: Quantity | None = None
    hop_ns_pj: Quantity | None = None
    static_power_w: Quantity | None = None
    timestep_us: Quantity | None = None  # wall time of one step at which static_power_w is charged
    host_mac_pj: Quantity | None = None
    host_byte_pj: Quantity | None = None
    ann_mac_pj: Quantity | None = None
    ann_device: Quantity | None = None
    # the ANN device's power while it computes: its latency is ann_pj / ann_power_w (energy and time, one device)
    ann_power_w: Quantity | None = None

    def quantities(self) -> dict[str, Quantity]:
        """The entries this model defines, in schema order (absent ones left out)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), Quantity)
        }


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path | None  # None for a profile given as text (loads_profile)
    text: str
    sha256: str
    target: TargetSection
    limits: LimitsSection
    fixed_point: FixedPointSection
    mesh: MeshSection
    cost_models: dict[str, CostModel] = field(default_factory=dict)
    timing: TimingSection | None = None  # None: the profile models no time (static energy needs --timestep-us)

    def quantities(self) -> Iterator[tuple[str, Quantity]]:
        """Every sourced entry as ("[section].field", Quantity), for reports."""
        for section in ("target", "limits", "fixed_point", "mesh", "timing"):
            obj = getattr(self, section)
            if obj is None:
                continue
            for f in dataclasses.fields(obj):
                q = getattr(obj, f.name)
                if isinstance(q, Quantity):
                    yield f"[{section}].{f.name}", q
        for name, model in self.cost_models.items():
            for key, q in model.quantities().items():
                yield f"[cost_models.{name}].{key}", q


# Value types per field (enof.hardware_profiles.fields).
_SECTIONS: dict[str, tuple[type, dict[str, str]]] = {
    "limits": (LimitsSection, {f.name: (_STR if f.name == "conv_weight_storage" else _INT)
                               for f in dataclasses.fields(LimitsSection)}),
    "fixed_point": (FixedPointSection, {f.name: _INT for f in dataclasses.fields(FixedPointSection)}),
    "mesh": (MeshSection, {f.name: _INT for f in dataclasses.fields(MeshSection)}),
}
_COST_FIELDS = {
    f.name: (_STR if f.name == "ann_device" else _NUM)
    for f in dataclasses.fields(CostModel)
    if f.name not in ("name", "description", "leaves_out")
}
# Limits that must be > 0 (a zero would divide or make every layer unplaceable).
_POSITIVE = ("limits", "mesh")


def available_profiles() -> list[str]:
    """Names of the built-in profiles (the TOML files shipped next to this module)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """Read and check a profile: a built-in name ("loihi") or a path to a TOML file."""
    path = _resolve(name_or_path)
    label = path.name if path.parent == PROFILE_DIR else str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"{label}: cannot read ({exc.strerror})") from None
    return _parse(raw, label, path)


def loads_profile(text: str, label: str) -> Profile:
    """Check a profile given as TOML text (e.g. the one a bundle's manifest embeds); `label`
    names it in errors. Its sha256 is that of the UTF-8 bytes, as if read from a file."""
    return _parse(text.encode("utf-8"), label, None)


def _parse(raw: bytes, label: str, path: Path | None) -> Profile:
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{label}: not valid TOML ({exc})") from None
    return _build(data, label, path, text, hashlib.sha256(raw).hexdigest())


def _resolve(name_or_path: str | Path) -> Path:
    s = str(name_or_path)
    if isinstance(name_or_path, Path) or s.endswith(".toml") or "/" in s or "\\" in s:
        return Path(name_or_path)
    builtin = PROFILE_DIR / f"{s}.toml"
    if not builtin.is_file():
        raise ProfileError(
            f"unknown target '{s}': built-in profiles are {', '.join(available_profiles())}; "
            "or pass the path of a .toml profile"
        )
    return builtin


def _build(data: dict, label: str, path: Path | None, text: str, sha: str) -> Profile:
    known = {"target", "limits", "fixed_point", "mesh", "cost_models", "timing"}
    for key in data:
        if key not in known:
            raise ProfileError(f"{label}: [{key}]: unknown section (expected {', '.join(sorted(known))})")
    target = _target(_table(data, "target", label), label)
    sections = {}
    for sec, (cls, types) in _SECTIONS.items():
        table = _table(data, sec, label)
        _no_unknown(table, types, f"[{sec}]", label)
        values = {k: _quantity(table, k, t, f"[{sec}]", label) for k, t in types.items()}
        if sec in _POSITIVE:
            for k, q in values.items():
                if isinstance(q.value, int) and q.value <= 0:
                    raise ProfileError(f"{label}: [{sec}].{k}: must be > 0, got {q.value}")
        sections[sec] = cls(**values)
    storage = sections["limits"].conv_weight_storage.value
    if storage not in CONV_WEIGHT_STORAGES:
        raise ProfileError(f"{label}: [limits].conv_weight_storage: {storage!r} is not one of {', '.join(CONV_WEIGHT_STORAGES)}")
    mesh, lim = sections["mesh"], sections["limits"]
    board = mesh.chips_x.value * mesh.chips_y.value
    if lim.max_chips.value > board:
        raise ProfileError(f"{label}: [limits].max_chips: {lim.max_chips.value} chips do not fit the "
                           f"{mesh.chips_x.value} x {mesh.chips_y.value} mesh of [mesh] chips_x, chips_y")
    fp = sections["fixed_point"]
    if fp.weight_exp_min.value > fp.weight_exp_max.value:
        raise ProfileError(f"{label}: [fixed_point].weight_exp_min: greater than weight_exp_max")
    # v holds thresholds up to vth_mant << 6 and a sign; the simulator's int64 products need u, v of ≤ 32 bits.
    lowest = fp.vth_mant_bits.value + 7
    if not lowest <= fp.state_bits.value <= MAX_STATE_BITS:
        raise ProfileError(f"{label}: [fixed_point].state_bits: {fp.state_bits.value}; expected {lowest} (a "
                           f"{fp.vth_mant_bits.value}-bit threshold mantissa << 6, signed) to {MAX_STATE_BITS}")
    models = _cost_models(data.get("cost_models", {}), label)
    timing = _timing(data["timing"], label) if "timing" in data else None
    return Profile(
        name=target.name, path=path, text=text, sha256=sha, target=target,
        limits=sections["limits"], fixed_point=fp, mesh=sections["mesh"], cost_models=models, timing=timing,
    )


_BANDWIDTHS = ("host_to_chip_bytes_per_s", "chip_to_host_bytes_per_s")


def _timing(table: Any, label: str) -> TimingSection:
    """[timing]: every latency a finite number ≥ 0, the bandwidths > 0, the barrier table ascending."""
    if not isinstance(table, dict):
        raise ProfileError(f"{label}: [timing]: expected a table")
    types = {f.name: (_BARRIER if f.name == "barrier_us" else _NUM) for f in dataclasses.fields(TimingSection)}
    _no_unknown(table, types, "[timing]", label)
    values = {k: _quantity(table, k, t, "[timing]", label) for k, t in types.items()}
    for k, q in values.items():
        if types[k] == _NUM and (q.value < 0 or (k in _BANDWIDTHS and q.value <= 0)):
            raise ProfileError(f"{label}: [timing].{k}: must be {'> 0' if k in _BANDWIDTHS else '>= 0'}, got {q.value}")
    return TimingSection(**values)



def _target(table: dict, label: str) -> TargetSection:
    types = {"name": _STR, "description": _STR, "graded_spikes": _BOOL, "graded_spike_bits": _INT}
    _no_unknown(table, types, "[target]", label)
    for key in ("name", "description"):
        if key not in table:
            raise ProfileError(f"{label}: [target].{key}: missing")
        if not isinstance(table[key], str) or not table[key].strip():
            raise ProfileError(f"{label}: [target].{key}: expected a non-empty string")
    graded = _quantity(table, "graded_spikes", _BOOL, "[target]", label)
    bits = _quantity(table, "graded_spike_bits", _INT, "[target]", label)
    if not 0 <= bits.value <= MAX_STATE_BITS:
        raise ProfileError(f"{label}: [target].graded_spike_bits: {bits.value}; expected 0 (binary spikes) to "
                           f"{MAX_STATE_BITS}")
    if graded.value != (bits.value > 0):
        raise ProfileError(
            f"{label}: [target].graded_spike_bits: {bits.value} does not agree with "
            f"graded_spikes = {str(graded.value).lower()} (0 exactly when spikes are binary)"
        )
    return TargetSection(table["name"], table["description"], graded, bits)


def _cost_models(table: Any, label: str) -> dict[str, CostModel]:
    if not isinstance(table, dict):
        raise ProfileError(f"{label}: [cost_models]: expected a table of models")
    models = {}
    for name, model in table.items():
        where = f"[cost_models.{name}]"
        if not isinstance(model, dict):
            raise ProfileError(f"{label}: {where}: expected a table")
        _no_unknown(model, {"description": _STR, "leaves_out": "", **_COST_FIELDS}, where, label)
        desc = model.get("description")
        if not isinstance(desc, str) or not desc.strip():
            raise ProfileError(f"{label}: {where}.description: " + ("missing" if desc is None else "expected a non-empty string"))
        leaves_out = model.get("leaves_out")
        if leaves_out is None:
            raise ProfileError(f"{label}: {where}.leaves_out: missing")
        if not isinstance(leaves_out, list) or not all(isinstance(x, str) for x in leaves_out):
            raise ProfileError(f"{label}: {where}.leaves_out: expected a list of strings")
        values = {k: _quantity(model, k, t, where, label) for k, t in _COST_FIELDS.items() if k in model}
        for k, q in values.items():
            if _COST_FIELDS[k] == _NUM and q.value < 0:
                raise ProfileError(f"{label}: {where}.{k}: must be >= 0, got {q.value}")
        if "ann_power_w" in values and values["ann_power_w"].value <= 0:  # the ANN's latency divides by it
            raise ProfileError(f"{label}: {where}.ann_power_w: must be > 0, got {values['ann_power_w'].value}")
        if "ann_power_w" in values and "ann_mac_pj" not in values:
            raise ProfileError(f"{label}: {where}.ann_power_w: given without ann_mac_pj (the ANN's energy it times)")
        if not values:
            raise ProfileError(f"{label}: {where}: defines no energy or power entry")
        models[name] = CostModel(name=name, description=desc, leaves_out=tuple(leaves_out), **values)
    return models
