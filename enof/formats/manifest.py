"""manifest.json (docs/design.md §5): the typed ``Manifest`` and its parts, and the checks a read one passes.

``checked_manifest(data, label)`` checks the format name and version and every field (types, ranges, the
embedded profile's sha256 and its fit with the target); a problem is one BundleError line naming the field.
The folder around it (the files it lists, their hashes, the atomic write) is enof.formats.bundle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

from enof.errors import BundleError, ProfileError
from enof.formats.dataset_record import DatasetSpec
from enof.formats.validation import Fields, check_header, show
from enof.hardware_profiles import Profile, loads_profile

BUNDLE_FORMAT = "enof-bundle"
INT64_MAX = 2**63 - 1  # run.json's counts are 64-bit: a host MAC count beyond that could not be written back
BUNDLE_FORMAT_VERSION = 2
# Versions refused with their reason (check_header's old_versions).
OLD_BUNDLE_VERSIONS = {1: "the host layers' MACs are counted at export since version 2; re-export the bundle"}
MANIFEST_NAME = "manifest.json"
INPUT_MODES = ("graded", "spikes", "current")
WHERE = ("chip", "host_in", "host_out")
# Files every bundle has; host_in.onnx only in current mode (the analog first layer on the host).
# Input modes (docs/design.md §5): "graded", pixel or event values as graded spikes (targets with graded
# spikes); "spikes", event frames as binary spikes into the first layer's axons, counts clipped to 1
# (event data on targets without graded spikes: Loihi 1); "current", a static image's first layer on the
# host, its output entering the first LIF as a constant current (static data without graded spikes).
REQUIRED_FILES = ("chip.nir", "host_out.onnx", "quant.npz", "placement.json")
HOST_IN_FILE = "host_in.onnx"

# host_out.onnx averages T float32 0/1 spikes and the built-in simulator sums spikes over time in
# float32: both count exactly only below 2^24 (float32's significand), so a bundle runs at most that
# many steps. (Memory binds earlier; run_bundle checks the batch's spike raster against the machine.)
MAX_TIMESTEPS = 2 ** (np.finfo(np.float32).nmant + 1)
TIMESTEPS_WHY = "float32 counts T spikes exactly only up to 2^24"


@dataclass(frozen=True)
class TargetInfo:
    name: str
    profile_sha256: str
    profile: str  # the profile's TOML text, so a bundle is priced by the profile it was exported for


@dataclass(frozen=True)
class PartitionRecord:
    node: str
    where: str  # chip | host_in | host_out
    shape: list[int]
    reason: str

    def __post_init__(self):
        if self.where not in WHERE:
            raise ValueError(f"partition node {self.node!r}: where={self.where!r} is not one of {', '.join(WHERE)}")


@dataclass(frozen=True)
class HostMacs:
    """Multiply-accumulates per inference of the host graphs, counted at export (enof.exporter.host_macs) at
    the shapes enof-run runs them: batch 1, host_out.onnx over the bundle's T steps. Per MAC node, keyed by
    its weight initializer's name; ``host_in`` is empty unless the input mode is current.
    ``host_out_one_step``: host_out.onnx at T = 1, what the same network does as an ANN; None where the
    graph fixes T (or counts differently with T freed)."""

    host_in: dict[str, int]
    host_out: dict[str, int]
    host_out_one_step: int | None

    @property
    def host_in_total(self) -> int:
        return sum(self.host_in.values())

    @property
    def host_out_total(self) -> int:
        return sum(self.host_out.values())


@dataclass(frozen=True)
class Manifest:
    """manifest.json. `files` is filled in by write_bundle, and `versions` too when left empty."""

    checkpoint_sha256: str
    target: TargetInfo
    timesteps: int
    num_classes: int
    dataset: DatasetSpec  # on disk its record(), as in the checkpoint
    input_mode: str  # one of INPUT_MODES
    partition: tuple[PartitionRecord, ...]
    host_macs: HostMacs
    interfaces: dict | list = field(default_factory=dict)  # tensors between parts: shapes and time handling
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256 of its bytes
    versions: dict[str, str] = field(default_factory=dict)  # enof, nir, onnx, torch
    # readable layer name -> the torch module path it was exported from (optional: older bundles have none)
    module_paths: dict[str, str] = field(default_factory=dict)
    # the weight grid the quantizer used (enof-export --weight-bits); None: the profile's (older bundles)
    weight_bits: int | None = None
    # chip.net.h5 (enof.formats.netx): {"file": "chip.net.h5"} when written, {"skipped": the export's reason}
    # when not; empty in bundles exported before it
    netx: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode {self.input_mode!r} is not one of {', '.join(INPUT_MODES)}")
        if not (type(self.timesteps) is int and 0 < self.timesteps <= MAX_TIMESTEPS):
            raise ValueError(f"timesteps must be an integer in [1, {MAX_TIMESTEPS}], got {self.timesteps!r}")
        if not (type(self.num_classes) is int and self.num_classes > 0):
            raise ValueError(f"num_classes must be a positive integer, got {self.num_classes!r}")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One sample of the data set the bundle classifies, (C, H, W) as its loader gives it."""
        return tuple(self.dataset.input_shape)

    @property
    def dataset_name(self) -> str:
        return self.dataset.name

    @property
    def input_abs_max(self) -> float | None:
        """interfaces.chip_input.input_abs_max (checked by the reader): the largest |chip input| input.scale was
        sized for; None in bundles exported before it was recorded."""
        chip_input = self.interfaces.get("chip_input") if isinstance(self.interfaces, dict) else None
        value = chip_input.get("input_abs_max") if isinstance(chip_input, dict) else None
        return None if value is None else float(value)

    def required_files(self) -> tuple[str, ...]:
        return REQUIRED_FILES + ((HOST_IN_FILE,) if self.input_mode == "current" else ())

    def to_dict(self) -> dict:
        body = asdict(self)
        body["dataset"] = self.dataset.record()
        body["partition"] = [asdict(p) for p in self.partition]
        return {"format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, **body}

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n").encode("utf-8")
def manifest_from_dict(data: dict, label: str) -> Manifest:
    """Check format name, version and every field; a problem is one BundleError line naming `label`."""
    return checked_manifest(data, label)[0]


def checked_manifest(data, label: str) -> tuple[Manifest, Profile | None, str]:
    """(Manifest, embedded profile or None, why it does not load) of `data`, checked.

    Types and ranges of every field (docs/design.md §5), `timesteps` at most MAX_TIMESTEPS;
    `target.profile_sha256` is the sha256 of `target.profile`. When that text loads as a profile (under
    today's schema), `check_manifest_profile` holds for it; when it does not, the profile is None and the
    reason is returned: a reader then needs another profile to check the bundle's integers against."""
    f = Fields(label, BundleError)
    check_header(data, label, BundleError, version=BUNDLE_FORMAT_VERSION, format_name=BUNDLE_FORMAT,
                 what="bundle manifest", advice="re-export the bundle", old_versions=OLD_BUNDLE_VERSIONS)
    target = f.obj(f.get(data, "target"), "target")
    name = f.string(f.get(target, "name", "target"), "target.name")
    profile_sha = f.sha256(f.get(target, "profile_sha256", "target"), "target.profile_sha256")
    text = f.string(f.get(target, "profile", "target"), "target.profile")
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != profile_sha:
        f.fail("target.profile_sha256", "is not the sha256 of target.profile (the profile text changed after export)")
    try:
        profile, problem = loads_profile(text, f"{label} target.profile"), ""
    except ProfileError as exc:
        profile, problem = None, str(exc)
    input_mode = f.string(f.get(data, "input_mode"), "input_mode", INPUT_MODES)
    num_classes = f.integer(f.get(data, "num_classes"), "num_classes", 1)
    files = f.obj(f.get(data, "files"), "files")
    for key, value in files.items():
        f.sha256(value, f"files.{key}")
    versions = f.obj(data.get("versions", {}), "versions")
    for key, value in versions.items():
        f.string(value, f"versions.{key}", nonempty=False)
    interfaces = data.get("interfaces", {})
    if not isinstance(interfaces, (dict, list)):
        f.wrong_type(interfaces, "interfaces", "an object or an array")
    chip_input = interfaces.get("chip_input") if isinstance(interfaces, dict) else None
    if isinstance(chip_input, dict) and chip_input.get("input_abs_max") is not None:  # the range input.scale fits
        f.number(chip_input["input_abs_max"], "interfaces.chip_input.input_abs_max", 0)
    module_paths = f.obj(data.get("module_paths", {}), "module_paths")
    for key, value in module_paths.items():
        f.string(value, f"module_paths.{key}")
    manifest = Manifest(
        checkpoint_sha256=f.sha256(f.get(data, "checkpoint_sha256"), "checkpoint_sha256"),
        target=TargetInfo(name, profile_sha, text),
        timesteps=f.integer(f.get(data, "timesteps"), "timesteps", 1, MAX_TIMESTEPS, TIMESTEPS_WHY),
        num_classes=num_classes, dataset=_dataset(f, f.get(data, "dataset"), num_classes), input_mode=input_mode,
        partition=tuple(_partition_record(f, p, f"partition[{i}]")
                        for i, p in enumerate(f.array(f.get(data, "partition"), "partition", nonempty=True))),
        host_macs=_host_macs(f, f.get(data, "host_macs"), input_mode),
        interfaces=f.free_form(interfaces, "interfaces"), files=files, versions=versions, module_paths=module_paths,
        weight_bits=None if data.get("weight_bits") is None else f.integer(data["weight_bits"], "weight_bits", 2),
        netx=_netx_record(f, data.get("netx", {})),
    )  # fmt: skip
    if profile is not None:
        check_manifest_profile(manifest, profile, label)
    return manifest, profile, problem


def _netx_record(f: Fields, value) -> dict[str, str]:
    """The manifest's ``netx``: empty, {"file": "chip.net.h5"} (listed in ``files``) or {"skipped": reason}."""
    record = f.obj(value, "netx")
    if record and (len(record) != 1 or set(record) - {"file", "skipped"}):
        f.fail("netx", f"is {show(record)}; expected {{\"file\": \"chip.net.h5\"}} or {{\"skipped\": reason}}")
    for key, text in record.items():
        f.string(text, f"netx.{key}")
    return dict(record)


def input_mode_for(graded_spikes: bool, temporal: bool) -> str:
    """The input mode a target with (or without) graded spikes runs a static (or event) data set in."""
    return "graded" if graded_spikes else "spikes" if temporal else "current"


def check_manifest_profile(manifest: Manifest, profile: Profile, label: str) -> None:
    """The manifest fits `profile`: its target name, and its input mode (:func:`input_mode_for`, as the
    exporter partitions)."""
    f = Fields(label, BundleError)
    if profile.name != manifest.target.name:
        f.fail("target.name", f"is {show(manifest.target.name)} but its profile is the {profile.name!r} profile")
    register = int(profile.fixed_point.weight_bits.value)
    if manifest.weight_bits is not None and manifest.weight_bits > register:
        f.fail("weight_bits", f"is {manifest.weight_bits}, but the {profile.name} profile's synapses take at most "
                              f"{register} weight bits")
    graded = bool(profile.target.graded_spikes.value)
    temporal = manifest.dataset.is_temporal
    expected = input_mode_for(graded, temporal)
    if manifest.input_mode != expected:
        f.fail("input_mode", f"is {manifest.input_mode!r}, but the {profile.name} profile has "
                             f"{'graded' if graded else 'no graded'} spikes (expected {expected}"
                             f"{' for event data' if temporal and not graded else ''})")


def _dataset(f: Fields, value, num_classes: int) -> DatasetSpec:
    """The data set record (as in the checkpoint): name and input_shape are read; the rest is checked when present."""
    dataset = f.obj(f.free_form(value, "dataset"), "dataset")
    f.string(f.get(dataset, "name", "dataset"), "dataset.name")
    shape = f.shape(f.get(dataset, "input_shape", "dataset"), "dataset.input_shape")
    if "num_classes" in dataset:
        f.integer(dataset["num_classes"], "dataset.num_classes", num_classes, num_classes, "the manifest's num_classes")
    if "temporal" in dataset:
        f.boolean(dataset["temporal"], "dataset.temporal")
    if "normalization" in dataset:
        norm = f.obj(dataset["normalization"], "dataset.normalization")
        for key, low in (("mean", None), ("std", 0.0)):
            values = f.array(f.get(norm, key, "dataset.normalization"), f"dataset.normalization.{key}", length=shape[0])
            for i, v in enumerate(values):
                where = f"dataset.normalization.{key}[{i}]"
                if f.number(v, where) <= 0.0 and low is not None:
                    f.fail(where, f"is {show(v)}; a standard deviation must be > 0")
    return DatasetSpec.from_record(dataset)


def _host_macs(f: Fields, value, input_mode: str) -> HostMacs:
    record = f.obj(value, "host_macs")

    def per_node(key: str) -> dict[str, int]:
        table = f.obj(f.get(record, key, "host_macs"), f"host_macs.{key}")
        return {name: f.integer(macs, f"host_macs.{key}.{name}", 0, INT64_MAX, "a 64-bit count")
                for name, macs in table.items()}

    host_in, host_out = per_node("host_in"), per_node("host_out")
    if host_in and input_mode != "current":
        f.fail("host_macs.host_in", f"counts MACs, but a {input_mode} bundle has no host_in.onnx")
    one_step = f.get(record, "host_out_one_step", "host_macs")
    if one_step is not None:
        one_step = f.integer(one_step, "host_macs.host_out_one_step", 0, INT64_MAX, "a 64-bit count")
    return HostMacs(host_in, host_out, one_step)


def _partition_record(f: Fields, value, where: str) -> PartitionRecord:
    record = f.obj(value, where)
    return PartitionRecord(
        node=f.string(f.get(record, "node", where), f"{where}.node"),
        where=f.string(f.get(record, "where", where), f"{where}.where", WHERE),
        shape=list(f.shape(f.get(record, "shape", where), f"{where}.shape")),
        reason=f.string(f.get(record, "reason", where), f"{where}.reason"),  # the exporter always says why
    )
