"""Read what the energy model needs from files: run.json, its bundle (enof.runtime.bundle.open_bundle), a profile.

Every file is checked before use; a problem is one line (RunResultError, BundleError, ProfileError).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from enof.errors import ProfileError, RunResultError
from enof.formats.bundle import MANIFEST_NAME
from enof.formats.run_result import RunResult, read_run_result
from enof.hardware_profiles import CostModel, Profile, load_profile
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
    )


def host_layers(bundle: OpenedBundle, run: RunResult) -> tuple[HostLayer, ...]:
    """The manifest's host layers in order, each with its MACs per inference, counted in host_in.onnx and
    host_out.onnx at the shapes enof-run counts them at (a weight initializer named ``[inner.]<layer>__weight``
    belongs to that layer). Empty when the per-layer counts do not add up to run.json's host MACs."""
    from enof.runtime.host import node_macs

    program = bundle.program
    counted = {}
    if run.host.host_in_macs:
        counted.update(node_macs(bundle.file("host_in.onnx"), {"x": (1, *bundle.manifest.input_shape)}))
    counted.update(node_macs(bundle.file("host_out.onnx"),
                             {n: (program.timesteps, 1, *program.layers[n].shape) for n in program.outputs}))
    by_layer = {name.removeprefix("inner.").removesuffix("__weight"): macs for name, macs in counted.items()}
    layers = tuple(HostLayer(r.node, r.where, by_layer.pop(r.node, 0)) for r in bundle.manifest.partition
                   if r.where in ("host_in", "host_out"))
    if by_layer or sum(h.macs for h in layers) != run.host.host_in_macs + run.host.host_out_macs:
        return ()
    return layers


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


def load_energy_inputs(run_path: Path, bundle_dir: Path | None = None, profile: str | None = None, run: RunResult | None = None):
    """Read and cross-check run.json (or ``run``, a run in memory that ``run_path`` names), its bundle (opened once)
    and a profile. Returns (EnergyInputs, cost models, EnergySources)."""
    run_path = Path(run_path)
    run = read_run_result(run_path) if run is None else run
    # --profile prices the run, and checks a bundle whose own profile no longer loads
    given = load_profile(profile) if profile is not None else None
    bundle = open_bundle(Path(bundle_dir) if bundle_dir is not None else find_bundle(run, run_path), given)
    if run.bundle_manifest_sha256 != bundle.manifest_sha256:
        raise RunResultError(
            f"{run_path}: run.json was produced from another bundle (manifest sha256 "
            f"{run.bundle_manifest_sha256[:12]}... != {bundle.manifest_sha256[:12]}... of {bundle.root / MANIFEST_NAME})"
        )
    check_run_against_bundle(run, bundle, str(run_path))
    prof, label = (given, str(profile)) if given is not None else _bundle_profile(bundle)
    inputs = assemble_inputs(
        run, bundle, mesh_from_profile(prof),
        ann_host_macs=run.host.host_in_macs + one_step_host_out_macs(bundle.file("host_out.onnx"), bundle.program, run),
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
    """The bundle's own profile and how to name it: the built-in of its name if the hash matches, else the text
    its manifest embeds (which open_bundle loaded and checked)."""
    target = bundle.manifest.target
    try:
        builtin = load_profile(target.name)
    except ProfileError:  # not a built-in here (a user profile): use the embedded text
        builtin = None
    if builtin is not None and builtin.sha256 == target.profile_sha256:
        return builtin, target.name
    where = f"{bundle.root / MANIFEST_NAME} target.profile ({target.name}, the profile the bundle was exported for)"
    return bundle.profile, where
