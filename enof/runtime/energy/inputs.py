"""Read what the energy model needs from files: run.json, its bundle (enof.runtime.run.load_bundle), a profile.

Every file is checked before use; a problem is one line (RunResultError, BundleError, ProfileError).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enof.errors import BundleError, ProfileError, RunResultError
from enof.formats.placement import Placement
from enof.formats.run_result import RunResult, read_run_result
from enof.hardware_profiles import CostModel
from enof.runtime.energy.price import EnergyInputs, check_cost_model
from enof.runtime.energy.routing import MeshGeometry, Projection


@dataclass(frozen=True)
class EnergySources:
    """Where the numbers came from: shown in the report header and stored in its JSON."""

    run_path: str
    bundle_dir: str
    bundle_manifest_sha256: str
    profile_name: str
    profile_path: str
    profile_sha256: str
    profile_matches_bundle: bool
    backend: str
    precision: str
    accuracy: float


def checked_cost_models(profile, label: str) -> list[CostModel]:
    models = list(profile.cost_models.values())
    if not models:
        raise ProfileError(f"profile {label}: has no [cost_models] to price the run with")
    for model in models:
        check_cost_model(model, label)
    return models


def mesh_from_profile(profile) -> MeshGeometry:
    m = profile.mesh
    return MeshGeometry(
        cores_per_tile=int(m.cores_per_tile.value), tiles_x=int(m.tiles_x.value), tiles_y=int(m.tiles_y.value),
        chips_x=int(m.chips_x.value), chips_y=int(m.chips_y.value),
    )


def projections_from_program(program) -> tuple[Projection, ...]:
    """Connectivity of a ChipProgram (enof.runtime.program): one Projection per synapse."""
    out = []
    for syn in program.synapses:
        kernel = tuple(syn.weight.shape[2:]) if syn.kind == "conv" else (1, 1)
        out.append(
            Projection(
                syn.source, syn.target, syn.kind, tuple(program.shape_of(syn.source)),
                tuple(program.shape_of(syn.target)), kernel=kernel, stride=tuple(syn.stride),
                padding=tuple(syn.padding),
            )
        )
    return tuple(out)


def assemble_inputs(
    run: RunResult, manifest: dict, placement: Placement, projections: tuple[Projection, ...], mesh: MeshGeometry,
    ann_host_macs: int | None = None,
) -> EnergyInputs:
    return EnergyInputs(
        timesteps=run.timesteps,
        samples=run.samples,
        input_mode=manifest.get("input_mode", "current"),
        layers=tuple(run.layers),
        cores=tuple(run.cores),
        host=run.host,
        placement=placement.cores,
        projections=projections,
        mesh=mesh,
        ann_host_macs=ann_host_macs,
    )


def one_step_host_out_macs(path: Path, program, run: RunResult) -> int:
    """MACs of host_out.onnx for one sample and ONE timestep: what the same network as an ANN does there.

    host_out.onnx fixes T in its inputs' first dimension; the exporter's graph folds time into the batch
    from the input shape, so with that dimension freed it runs at T = 1. Counted with the runtime's own
    counter and checked against run.json at the bundle's T; if either step fails, run.json's figure
    (T steps of the per-step host layers) is used and the ANN is overstated by that much.
    """
    import tempfile

    import onnx

    from enof.runtime.host import count_macs

    model = onnx.load(str(path))
    for tensor in model.graph.input:
        tensor.type.tensor_type.shape.dim[0].dim_param = "T"
    with tempfile.TemporaryDirectory(prefix="enof-energy-") as tmp:
        free = Path(tmp) / "host_out_free_t.onnx"
        onnx.save(model, str(free))
        try:
            shapes = lambda steps: {n: (steps, 1, *program.layers[n].shape) for n in program.outputs}  # noqa: E731
            if count_macs(free, shapes(program.timesteps)) != run.host.host_out_macs:
                return run.host.host_out_macs
            return count_macs(free, shapes(1))
        except Exception:  # onnxruntime refuses T = 1 (a graph that hard-codes T): keep run.json's count
            return run.host.host_out_macs


def find_bundle(run: RunResult, run_path: Path) -> Path:
    """The bundle of a run: the folder run.json records (as given, or relative to run.json), else run.json's own
    folder or ./bundle beside it. The manifest hash check that follows makes a wrong guess harmless."""
    candidates = []
    if run.bundle:
        recorded = Path(run.bundle)
        candidates += [recorded] if recorded.is_absolute() else [recorded, run_path.parent / recorded]
    candidates += [run_path.parent, run_path.parent / "bundle"]
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate
    raise RunResultError(f"{run_path}: no bundle found (run.json records none beside it); pass --bundle DIR")


def load_energy_inputs(run_path: Path, bundle_dir: Path | None = None, profile: str | None = None):
    """Read and cross-check run.json, its bundle and a profile. Returns (EnergyInputs, cost models, EnergySources)."""
    from enof.hardware_profiles import load_profile
    from enof.runtime.run import check_run_against_bundle, load_bundle

    run_path = Path(run_path)
    run = read_run_result(run_path)
    fallback = load_profile(profile) if profile is not None else None  # checks a bundle whose own profile no longer loads
    bundle = load_bundle(Path(bundle_dir) if bundle_dir is not None else find_bundle(run, run_path), fallback)
    manifest_path = bundle.path / "manifest.json"
    if run.bundle_manifest_sha256 != bundle.manifest_sha256:
        raise RunResultError(
            f"{run_path}: run.json was produced from another bundle (manifest sha256 "
            f"{run.bundle_manifest_sha256[:12]}... != {bundle.manifest_sha256[:12]}... of {manifest_path})"
        )
    check_run_against_bundle(run, bundle, str(run_path))
    target = bundle.manifest.get("target") or {}
    prof, label = _profile_for(profile, target, bundle.path, load_profile)
    placement = bundle.placed  # checked by load_bundle against the profile and the chip's layers
    inputs = assemble_inputs(
        run, bundle.manifest, placement, projections_from_program(bundle.program), mesh_from_profile(prof),
        ann_host_macs=run.host.host_in_macs + one_step_host_out_macs(bundle.file("host_out.onnx"), bundle.program, run),
    )
    models = checked_cost_models(prof, label)
    sources = EnergySources(
        run_path=str(run_path), bundle_dir=str(bundle.path), bundle_manifest_sha256=bundle.manifest_sha256,
        profile_name=prof.name, profile_path=label, profile_sha256=prof.sha256,
        profile_matches_bundle=prof.sha256 == target.get("profile_sha256"),
        backend=run.backend, precision=run.precision, accuracy=run.accuracy,
    )
    return inputs, models, sources


def _profile_for(profile: str | None, target: dict, bundle: Path, load_profile):
    """--profile if given; else the bundle's own profile: the built-in of its name if the hash matches, else its embedded text."""
    if profile is not None:
        return load_profile(profile), str(profile)
    name, sha, text = target.get("name"), target.get("profile_sha256"), target.get("profile")
    if isinstance(name, str) and name:
        try:
            builtin = load_profile(name)
        except ProfileError:  # not a built-in here (a user profile): use the embedded text
            builtin = None
        if builtin is not None and builtin.sha256 == sha:
            return builtin, name
    if not isinstance(text, str) or not text:
        raise BundleError(f"{bundle / 'manifest.json'}: target records no profile; pass --profile NAME|PATH")
    import tempfile

    where = f"{bundle / 'manifest.json'} target.profile ({name}, the profile the bundle was exported for)"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name or 'bundle'}.toml"
        path.write_text(text)
        try:
            return load_profile(path), where
        except ProfileError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            raise ProfileError(f"{where}: {reason}; pass --profile NAME|PATH to price the run with another profile") from None
