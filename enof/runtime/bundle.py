"""``open_bundle``: a bundle folder opened once into one checked, typed object that a command passes on.

Every reader in ``enof.formats`` runs here, once, and so do the checks across files; both backends,
``run_bundle`` and the energy report run only what this accepted, and none of them reads a bundle file again
to learn what is already here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from enof.errors import BundleError
from enof.formats.bundle import read_bundle
from enof.formats.manifest import MANIFEST_NAME, Manifest, check_manifest_profile
from enof.formats.host_graphs import check_host_in, check_host_out
from enof.formats.placement import Placement, read_placement
from enof.formats.quant import FixedPointRanges, check_input_scale, chip_input_bits
from enof.hardware_profiles import Profile
from enof.runtime.chip_nir import program_from_bundle
from enof.runtime.program import ChipProgram


@dataclass(frozen=True)
class OpenedBundle:
    """A bundle whose every file was checked: its manifest, chip program, placement and target profile."""

    root: Path
    manifest: Manifest
    manifest_sha256: str  # run.json's bundle_manifest_sha256
    program: ChipProgram
    placement: Placement
    profile: Profile  # the profile the checks used: the one the manifest embeds, else the fallback
    paths: dict[str, Path]  # every file the manifest lists
    # host_in/host_out.onnx as read (once) and checked, for the sessions that run them; empty when opened
    # without them (open_bundle(host_graphs=False): the energy report reads their MACs from the manifest)
    host_graphs: dict[str, bytes] = field(default_factory=dict)

    def file(self, name: str) -> Path:
        if name not in self.paths:
            raise BundleError(f"{self.root / name}: not in this bundle (files: {', '.join(sorted(self.paths))})")
        return self.paths[name]

    def host_session(self, name: str, threads: int = 1):
        """An ONNX Runtime session on host_in.onnx or host_out.onnx, from the bytes open_bundle read and checked."""
        from enof.runtime.host import open_session  # onnxruntime: loaded only by a command that runs a host part

        if name not in self.host_graphs:
            raise BundleError(f"{self.root / name}: not opened with this bundle (open_bundle(host_graphs=True) reads it)")
        return open_session(self.file(name), threads, model=self.host_graphs[name])


def open_bundle(bundle_dir: str | Path, fallback_profile: Profile | None = None, host_graphs: bool = True) -> OpenedBundle:
    """Read and check a bundle once.

    ``read_bundle``: manifest fields, embedded profile, file hashes. ``program_from_bundle``: chip.nir and
    quant.npz against the profile's fixed-point ranges. Here, across files: the chip's input mode and
    shape against the manifest (dataset.temporal, event input, needs graded input and sets the program's
    ``input_temporal``), host_in/host_out.onnx interfaces against the chip (T, shapes, classes),
    placement.json against the profile's limits and the chip's layers (each neuron on one core).
    The profile is the one the manifest embeds; ``fallback_profile`` (enof-energy --profile) stands in only
    when that no longer loads (a bundle exported under an older profile schema). ``host_graphs`` False: the
    host ONNX files are neither read nor checked (a reader that does not run them; their hashes are checked)."""
    bundle = read_bundle(bundle_dir)
    manifest, profile = bundle.manifest, bundle.profile or fallback_profile
    manifest_path = bundle.root / MANIFEST_NAME
    if profile is None:
        raise BundleError(
            f"{bundle.profile_problem}; the profile this bundle was exported with no longer loads: re-export the "
            "bundle, or give a profile to check it against (enof-energy --profile NAME|PATH)"
        )
    if bundle.profile is None:
        check_manifest_profile(manifest, profile, str(manifest_path))
    program = program_from_bundle(
        bundle.path("chip.nir"), bundle.path("quant.npz"), manifest.timesteps,
        chip_input_bits(profile, manifest.input_mode), FixedPointRanges.from_profile(profile),
        state_bits=int(profile.fixed_point.state_bits.value),
    )  # fmt: skip
    if program.input_mode != manifest.input_mode:
        raise BundleError(f"{bundle.root}: chip.nir has {program.input_mode} input, manifest says {manifest.input_mode}")
    _check_weight_grid(program, manifest, profile, manifest_path)
    check_input_scale(str(bundle.path("quant.npz")), program.input_scale, manifest.input_abs_max,
                      program.input_mode, program.input_bits)
    # event input (dataset.temporal) is never in current mode: check_manifest_profile holds the input mode
    program = replace(program, input_temporal=manifest.dataset.is_temporal)
    image_shape = manifest.input_shape
    if program.input_mode != "current" and program.input_shape != image_shape:
        raise BundleError(
            f"{manifest_path}: dataset.input_shape {image_shape} is not chip.nir's input {program.input_shape} "
            f"({program.input_mode} input)"
        )
    graphs = {}
    if host_graphs:
        graphs["host_out.onnx"] = _read(bundle.path("host_out.onnx"))
        check_host_out(
            bundle.path("host_out.onnx"), {n: program.layers[n].shape for n in program.outputs},
            program.timesteps, manifest.num_classes, graphs["host_out.onnx"],
        )  # fmt: skip
        if program.input_mode == "current":
            graphs["host_in.onnx"] = _read(bundle.path("host_in.onnx"))
            check_host_in(bundle.path("host_in.onnx"), image_shape, program.input_shape, graphs["host_in.onnx"])
    placement = read_placement(
        bundle.path("placement.json"), profile, {n: layer.shape for n, layer in program.layers.items()}
    )
    return OpenedBundle(Path(bundle.root), manifest, bundle.manifest_sha256, program, placement, profile, bundle.paths,
                        graphs)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"{path}: cannot read ({exc.strerror})") from None


def _check_weight_grid(program: ChipProgram, manifest: Manifest, profile: Profile, manifest_path: Path) -> None:
    """Weights exported with ``weight_bits`` below the register's are multiples of 2^(register − weight_bits)
    (enof.exporter.quantize keeps them on that grid; a single-sign diagonal on half the MIXED step): the
    synapse memory the placement charged for."""
    if manifest.weight_bits is None:
        return
    unit = 2 ** (int(profile.fixed_point.weight_bits.value) - manifest.weight_bits)
    if unit == 1:  # the register's own width: every integer is on the grid
        return
    for syn in program.synapses:
        if np.any(syn.weight_int % unit):
            raise BundleError(
                f"{manifest_path}: weight_bits is {manifest.weight_bits}, but {syn.name}'s integers are not all "
                f"multiples of {unit} (the {manifest.weight_bits}-bit grid of the {profile.name} profile's "
                f"{profile.fixed_point.weight_bits.value}-bit weights)"
            )
