"""Read what the energy model needs from files: run.json, the bundle (manifest, placement, chip.nir), a profile.

Every file is checked before use; a problem is one line (RunResultError, BundleError, ProfileError).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from enof.errors import BundleError, RunResultError
from enof.formats.placement import Placement, read_placement
from enof.formats.run_result import RunResult, read_run_result
from enof.runtime.energy import CostModel, EnergyInputs, check_cost_model
from enof.runtime.energy_routing import INPUT, MeshGeometry, Projection

BUNDLE_FORMAT = "enof-bundle"


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


def cost_models_from_profile(profile) -> list[CostModel]:
    """The profile's ``[cost_models.*]`` as energy CostModels (values, sources and grades kept)."""
    models = []
    for name, model in profile.cost_models.items():
        quantities = model.quantities()
        device = quantities.pop("ann_device", None)
        models.append(
            CostModel(
                name=name,
                description=model.description,
                leaves_out=tuple(model.leaves_out),
                values={k: float(q.value) for k, q in quantities.items()},
                sources={k: q.source for k, q in quantities.items()},
                grades={k: q.grade for k, q in quantities.items()},
                ann_device="" if device is None else str(device.value),
            )
        )
    return models


def checked_cost_models(profile, label: str) -> list[CostModel]:
    models = cost_models_from_profile(profile)
    if not models:
        raise BundleError(f"profile {label}: has no [cost_models] to price the run with")
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


def projections_from_nir(graph, where: str) -> tuple[Projection, ...]:
    """Connectivity of chip.nir (docs/design.md §5): weight nodes between LIFs (or the input), Flatten passed through."""
    import nir

    nodes = graph.nodes
    preds: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        preds.setdefault(dst, []).append(src)

    def origin(name: str) -> str:
        """The LIF or input whose output reaches ``name`` (through Flatten nodes)."""
        while isinstance(nodes[name], nir.Flatten):
            name = _single(preds.get(name, []), name, where)
        if not isinstance(nodes[name], (nir.LIF, nir.Input)):
            raise BundleError(f"{where}: node {name!r} ({type(nodes[name]).__name__}) is not an input or a LIF")
        return name

    def shape(name: str) -> tuple[int, ...]:
        node = nodes[name]
        array = np.asarray(node.input_type["input"]) if isinstance(node, nir.Input) else np.asarray(node.tau).shape
        return tuple(int(v) for v in np.ravel(array))

    out = []
    for target, node in nodes.items():
        if not isinstance(node, nir.LIF):
            continue
        for src in preds.get(target, []):
            weight = nodes[src]
            if isinstance(weight, nir.Input):  # host-in current straight into the LIF (current mode)
                out.append(Projection(INPUT, target, "current", shape(target), shape(target)))
                continue
            source = origin(_single(preds.get(src, []), src, where))
            name = INPUT if isinstance(nodes[source], nir.Input) else source
            if isinstance(weight, nir.Conv2d):
                kernel = np.asarray(weight.weight).shape[2:]
                out.append(
                    Projection(
                        name, target, "conv", shape(source), shape(target), kernel=(int(kernel[0]), int(kernel[1])),
                        stride=_pair(weight.stride, where, src), padding=_pair(weight.padding, where, src),
                    )
                )
            elif isinstance(weight, (nir.Linear, nir.Affine)):
                out.append(Projection(name, target, "dense", shape(source), shape(target)))
            else:
                raise BundleError(
                    f"{where}: node {src!r} ({type(weight).__name__}) feeding {target!r} is not Conv2d/Linear/Affine"
                )
    return tuple(out)


def _single(items: list[str], name: str, where: str) -> str:
    if len(items) != 1:
        raise BundleError(f"{where}: node {name!r} has {len(items)} inputs, expected 1")
    return items[0]


def _pair(value: Any, where: str = "", node: str = "") -> tuple[int, int]:
    if isinstance(value, str):
        raise BundleError(f"{where}: conv {node!r} has padding {value!r}; expected explicit integers")
    arr = np.atleast_1d(np.asarray(value)).astype(int)
    return (int(arr[0]), int(arr[-1]))


def read_json(path: Path, what: str, error: type) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON (truncated?): {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object ({what})")
    return data


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assemble_inputs(
    run: RunResult, manifest: dict, placement: Placement, projections: tuple[Projection, ...], mesh: MeshGeometry
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
    )


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
    import nir

    from enof.hardware_profiles import load_profile

    run_path = Path(run_path)
    run = read_run_result(run_path)
    bundle = Path(bundle_dir) if bundle_dir is not None else find_bundle(run, run_path)
    manifest_path = bundle / "manifest.json"
    manifest = read_json(manifest_path, "bundle manifest", BundleError)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{manifest_path}: not an enof bundle manifest (format {manifest.get('format')!r})")
    manifest_sha = file_sha256(manifest_path)
    recorded_sha = run.bundle_manifest_sha256
    if recorded_sha != manifest_sha:
        raise RunResultError(
            f"{run_path}: run.json was produced from another bundle "
            f"(manifest sha256 {recorded_sha[:12]}... != {manifest_sha[:12]}... of {manifest_path})"
        )
    target = manifest.get("target") if isinstance(manifest.get("target"), dict) else {}
    prof, label = _profile_for(profile, target, bundle, load_profile)
    placement_path = bundle / "placement.json"
    placement = read_placement(placement_path)
    nir_path = bundle / "chip.nir"
    if not nir_path.is_file():
        raise BundleError(f"{nir_path}: not found")
    try:
        graph = nir.read(str(nir_path))
    except Exception as exc:  # h5py/nir raise many types on a damaged file
        raise BundleError(f"{nir_path}: cannot read NIR ({type(exc).__name__}: {exc})") from None
    inputs = assemble_inputs(run, manifest, placement, projections_from_nir(graph, str(nir_path)), mesh_from_profile(prof))
    models = checked_cost_models(prof, label)
    sources = EnergySources(
        run_path=str(run_path), bundle_dir=str(bundle), bundle_manifest_sha256=manifest_sha,
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
        except Exception:
            builtin = None
        if builtin is not None and builtin.sha256 == sha:
            return builtin, name
    if not isinstance(text, str) or not text:
        raise BundleError(f"{bundle / 'manifest.json'}: target records no profile; pass --profile NAME|PATH")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name or 'bundle'}.toml"
        path.write_text(text)
        return load_profile(path), f"{name} (embedded in {bundle / 'manifest.json'})"
