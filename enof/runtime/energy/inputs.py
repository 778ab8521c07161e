"""Read what the energy model needs from files: run.json, its bundle (enof.runtime.bundle.open_bundle), a profile.

Every file is checked before use; a problem is one line (RunResultError, BundleError, ProfileError).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from enof.errors import ProfileError, RunResultError
from enof.formats.manifest import MANIFEST_NAME
from enof.formats.run_result import RunResult, read_run_result
from enof.hardware_profiles import PROFILE_DIR, CostModel, Profile, load_profile
from enof.runtime.bundle import OpenedBundle, open_bundle
from enof.runtime.energy.price import EnergyInputs, check_cost_model
from enof.runtime.energy.result import HostLayer
from enof.runtime.energy.routing import MeshGeometry
from enof.runtime.run import check_run_against_bundle
from enof.synapses import Connection


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
    accuracy: float | None  # None: a run of unlabelled --inputs


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


def projections_from_program(program) -> tuple[Connection, ...]:
    """Connectivity of a ChipProgram (enof.runtime.program): one named Connection per synapse."""
    return tuple(syn.connection for syn in program.synapses)


def weight_layers_feeding(bundle: OpenedBundle) -> dict[str, tuple[str, ...]]:
    """Per chip LIF the weight layers that feed it: chip.nir's weight nodes, and for the input current
    (current mode) the host-in layer that computes it, as the manifest's partition names it."""
    host_in = [record.node for record in bundle.manifest.partition if record.where == "host_in"]
    current = host_in[-1] if host_in else "host_in"
    program = bundle.program
    return {name: tuple(current if syn.kind == "current" else syn.name for syn in program.incoming(name))
            for name in program.layers}  # fmt: skip


def assemble_inputs(
    run: RunResult, bundle: OpenedBundle, mesh: MeshGeometry, ann_host_macs: int | None = None,
    host_layers: tuple[HostLayer, ...] = (), timing=None,
) -> EnergyInputs:
    """The energy model's inputs: run.json's counts on the opened bundle's placement and connectivity."""
    return EnergyInputs(
        timesteps=run.timesteps,
        samples=run.samples,
        input_mode=bundle.manifest.input_mode,
        layers=tuple(run.layers),
        cores=tuple(run.cores),
        host=run.host,
        placement=bundle.placement.cores,
        projections=projections_from_program(bundle.program),
        mesh=mesh,
        ann_host_macs=ann_host_macs,
        fed_by=weight_layers_feeding(bundle),
        host_layers=host_layers,
        per_step=tuple(run.per_step),
        depths={name: d for name, d in bundle.program.depths().items() if name in bundle.program.layers},
        timing=timing,
        input_temporal=bundle.program.input_temporal,
        module_paths=bundle.manifest.module_paths,
    )


def host_layers(bundle: OpenedBundle, run: RunResult) -> tuple[HostLayer, ...]:
    """The manifest's host layers in order, each with its MACs per inference, as the exporter counted them in
    host_in.onnx and host_out.onnx (manifest host_macs; a weight initializer named ``[inner.]<layer>__weight``
    belongs to that layer). Empty when the per-layer counts do not add up to run.json's host MACs."""
    counted = {}
    if run.host.host_in_macs:
        counted.update(bundle.manifest.host_macs.host_in)
    counted.update(bundle.manifest.host_macs.host_out)
    by_layer = {name.removeprefix("inner.").removesuffix("__weight"): macs for name, macs in counted.items()}
    layers = tuple(HostLayer(r.node, r.where, by_layer.pop(r.node, 0)) for r in bundle.manifest.partition
                   if r.where in ("host_in", "host_out"))
    if by_layer or sum(h.macs for h in layers) != run.host.host_in_macs + run.host.host_out_macs:
        return ()
    return layers


def one_step_host_out_macs(bundle: OpenedBundle, run: RunResult) -> int:
    """MACs of host_out.onnx for one sample and ONE timestep: what the same network as an ANN does there
    (counted at export, enof.exporter.host_macs); where the graph fixes T, run.json's figure (T steps of the
    per-step host layers), and the ANN is overstated by that much."""
    one_step = bundle.manifest.host_macs.host_out_one_step
    return run.host.host_out_macs if one_step is None else one_step


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


def load_energy_inputs(run_path: Path, bundle_dir: Path | None = None, profile: str | None = None, run: RunResult | None = None):
    """Read and cross-check run.json (or ``run``, a run in memory that ``run_path`` names), its bundle (opened once,
    its host graphs not read: their MACs are in the manifest) and a profile. Returns (EnergyInputs, cost models,
    EnergySources)."""
    run_path = Path(run_path)
    run = read_run_result(run_path) if run is None else run
    # --profile prices the run, and checks a bundle whose own profile no longer loads
    given = load_profile(profile) if profile is not None else None
    bundle = open_bundle(Path(bundle_dir) if bundle_dir is not None else find_bundle(run, run_path), given,
                         host_graphs=False)
    return energy_inputs(run, run_path, bundle, given, None if profile is None else str(profile))


def energy_inputs(run: RunResult, run_path: Path, bundle: OpenedBundle, given: Profile | None = None,
                  given_label: str | None = None):
    """The same as load_energy_inputs on a run and bundle already in memory (the sweep's, which wrote run.json
    at ``run_path`` and opened the bundle itself): nothing is read again."""
    if run.bundle_manifest_sha256 != bundle.manifest_sha256:
        raise RunResultError(
            f"{run_path}: run.json was produced from another bundle (manifest sha256 "
            f"{run.bundle_manifest_sha256[:12]}... != {bundle.manifest_sha256[:12]}... of {bundle.root / MANIFEST_NAME})"
        )
    check_run_against_bundle(run, bundle, str(run_path))
    prof, label = (given, given_label) if given is not None else _bundle_profile(bundle)
    inputs = assemble_inputs(
        run, bundle, mesh_from_profile(prof),
        ann_host_macs=run.host.host_in_macs + one_step_host_out_macs(bundle, run),
        host_layers=host_layers(bundle, run), timing=prof.timing,
    )  # fmt: skip
    models = checked_cost_models(prof, label)
    sources = EnergySources(
        run_path=str(run_path), bundle_dir=str(bundle.root), bundle_manifest_sha256=bundle.manifest_sha256,
        profile_name=prof.name, profile_path=label, profile_sha256=prof.sha256,
        profile_matches_bundle=prof.sha256 == bundle.manifest.target.profile_sha256,
        backend=run.backend, precision=run.precision, accuracy=run.accuracy,
    )
    return inputs, models, sources


def _bundle_profile(bundle: OpenedBundle) -> tuple[Profile, str]:
    """The bundle's own profile (the text its manifest embeds, which open_bundle loaded and checked) and how to
    name it: by its name when the built-in of that name has the same bytes (compared by hash, not parsed again)."""
    target = bundle.manifest.target
    builtin = PROFILE_DIR / f"{target.name}.toml"
    if builtin.is_file() and hashlib.sha256(builtin.read_bytes()).hexdigest() == target.profile_sha256:
        return replace(bundle.profile, path=builtin), target.name
    where = f"{bundle.root / MANIFEST_NAME} target.profile ({target.name}, the profile the bundle was exported for)"
    return bundle.profile, where
