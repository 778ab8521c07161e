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
from enof.runtime.energy import (
    CoreCounts,
    CostModel,
    EnergyInputs,
    HostCounts,
    LayerCounts,
    check_cost_model,
)
from enof.runtime.energy_routing import INPUT, MeshGeometry, PlacedCore, Projection

RUN_FORMAT, BUNDLE_FORMAT = "enof-run", "enof-bundle"


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
    accuracy: float | None


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

    nodes, edges = graph.nodes, graph.edges
    preds: dict[str, list[str]] = {}
    for src, dst in edges:
        preds.setdefault(dst, []).append(src)

    def shape(name: str) -> tuple[int, ...]:
        node = nodes[name]
        if isinstance(node, nir.Input):
            return tuple(int(v) for v in np.asarray(node.input_type["input"]).ravel())
        if isinstance(node, nir.LIF):
            return tuple(int(v) for v in np.asarray(node.tau).shape)
        raise BundleError(f"{where}: node {name!r} ({type(node).__name__}) is not an input or a LIF")

    def origin(name: str) -> str:
        """The LIF or input whose output reaches ``name`` (through Flatten nodes)."""
        while isinstance(nodes[name], nir.Flatten):
            name = _single(preds.get(name, []), name, where)
        return "input" if isinstance(nodes[name], nir.Input) else name

    out = []
    for target, node in nodes.items():
        if not isinstance(node, nir.LIF):
            continue
        for src in preds.get(target, []):
            weight = nodes[src]
            if isinstance(weight, (nir.LIF, nir.Input)):  # input current straight into the LIF
                out.append(Projection(INPUT, target, "current", shape(target), shape(target)))
                continue
            source = origin(_single(preds.get(src, []), src, where))
            src_shape = shape(nodes_name(nodes, source))
            if isinstance(weight, nir.Conv2d):
                w = np.asarray(weight.weight)
                out.append(
                    Projection(
                        INPUT if source == "input" else source, target, "conv", src_shape, shape(target),
                        kernel=(int(w.shape[2]), int(w.shape[3])),
                        stride=_pair(weight.stride), padding=_pair(weight.padding, where, src),
                    )
                )
            elif isinstance(weight, (nir.Linear, nir.Affine)):
                out.append(Projection(INPUT if source == "input" else source, target, "dense", src_shape, shape(target)))
            else:
                raise BundleError(f"{where}: node {src!r} ({type(weight).__name__}) feeding {target!r} is not Conv2d/Linear/Affine")
    return tuple(out)


def nodes_name(nodes: dict, source: str) -> str:
    if source != "input":
        return source
    import nir

    return next(n for n, node in nodes.items() if isinstance(node, nir.Input))


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
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON, truncated? ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: expected a JSON object ({what})")
    return data


def _field(data: dict, key: str, path: Path, error: type, kind: type | tuple = object):
    if key not in data:
        raise error(f"{path}: missing field {key!r}")
    if not isinstance(data[key], kind) or isinstance(data[key], bool) and kind is not bool:
        raise error(f"{path}: field {key!r} has the wrong type ({type(data[key]).__name__})")
    return data[key]


def run_counts(run: dict, path: Path) -> tuple[tuple[LayerCounts, ...], tuple[CoreCounts, ...], HostCounts]:
    """The counts of a run.json (docs/design.md §7), types checked."""
    E = RunResultError
    try:
        layers = tuple(
            LayerCounts(
                str(_field(d, "name", path, E, str)), int(_field(d, "neurons", path, E, int)),
                int(_field(d, "spikes", path, E, int)), int(_field(d, "synops", path, E, int)),
                int(_field(d, "neuron_updates", path, E, int)),
            )
            for d in _field(run, "layers", path, E, list)
        )
        cores = tuple(
            CoreCounts(
                int(_field(d, "core_id", path, E, int)), str(_field(d, "layer", path, E, str)),
                int(_field(d, "spikes", path, E, int)), int(_field(d, "synops", path, E, int)),
                int(_field(d, "neuron_updates", path, E, int)),
            )
            for d in _field(run, "cores", path, E, list)
        )
        h = _field(run, "host", path, E, dict)
        host = HostCounts(
            *(int(_field(h, k, path, E, (int, float))) for k in
              ("host_in_macs", "host_out_macs", "bytes_host_to_chip", "bytes_chip_to_host"))
        )
    except TypeError as exc:  # a list entry that is not an object
        raise E(f"{path}: malformed layers/cores entry ({exc})") from None
    return layers, cores, host


def placed_cores(placement: dict, path: Path) -> tuple[PlacedCore, ...]:
    E = BundleError
    try:
        return tuple(
            PlacedCore(
                *(int(_field(c, k, path, E, int)) for k in ("core_id",)),
                str(_field(c, "layer", path, E, str)),
                *(int(_field(c, k, path, E, int)) for k in ("chip", "tile", "x", "y", "neuron_start", "neuron_stop")),
            )
            for c in _field(placement, "cores", path, E, list)
        )
    except ValueError as exc:
        raise E(f"{path}: {exc}") from None


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assemble_inputs(
    run: dict, run_path: Path, manifest: dict, placement: dict, placement_path: Path,
    projections: tuple[Projection, ...], mesh: MeshGeometry,
) -> EnergyInputs:
    layers, cores, host = run_counts(run, run_path)
    return EnergyInputs(
        timesteps=int(_field(run, "timesteps", run_path, RunResultError, int)),
        samples=int(_field(run, "samples", run_path, RunResultError, int)),
        input_mode=manifest.get("input_mode", "current"),
        layers=layers,
        cores=cores,
        host=host,
        placement=placed_cores(placement, placement_path),
        projections=projections,
        mesh=mesh,
    )


def find_bundle(run: dict, run_path: Path) -> Path:
    """The bundle of a run: run.json's ``bundle`` path if recorded, else run.json's own folder or ./bundle beside it."""
    recorded = run.get("bundle")
    candidates = []
    if isinstance(recorded, str) and recorded:
        p = Path(recorded)
        candidates.append(p if p.is_absolute() else run_path.parent / p)
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
    run = read_json(run_path, "run.json", RunResultError)
    if run.get("format") != RUN_FORMAT or run.get("format_version") != 1:
        raise RunResultError(
            f"{run_path}: not an enof run (format {run.get('format')!r}, version {run.get('format_version')!r}; "
            f"expected {RUN_FORMAT!r} version 1)"
        )
    bundle = Path(bundle_dir) if bundle_dir is not None else find_bundle(run, run_path)
    manifest_path = bundle / "manifest.json"
    manifest = read_json(manifest_path, "bundle manifest", BundleError)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{manifest_path}: not an enof bundle manifest (format {manifest.get('format')!r})")
    manifest_sha = file_sha256(manifest_path)
    recorded_sha = _field(run, "bundle_manifest_sha256", run_path, RunResultError, str)
    if recorded_sha != manifest_sha:
        raise RunResultError(
            f"{run_path}: run.json was produced from another bundle "
            f"(manifest sha256 {recorded_sha[:12]}... != {manifest_sha[:12]}... of {manifest_path})"
        )
    target = manifest.get("target") if isinstance(manifest.get("target"), dict) else {}
    prof, label = _profile_for(profile, target, bundle, load_profile)
    placement_path = bundle / "placement.json"
    placement = read_json(placement_path, "placement", BundleError)
    nir_path = bundle / "chip.nir"
    if not nir_path.is_file():
        raise BundleError(f"{nir_path}: not found")
    try:
        graph = nir.read(str(nir_path))
    except Exception as exc:  # h5py/nir raise many types on a damaged file
        raise BundleError(f"{nir_path}: cannot read NIR ({type(exc).__name__}: {exc})") from None
    inputs = assemble_inputs(
        run, run_path, manifest, placement, placement_path,
        projections_from_nir(graph, str(nir_path)), mesh_from_profile(prof),
    )
    models = checked_cost_models(prof, label)
    accuracy = run.get("accuracy")
    sources = EnergySources(
        run_path=str(run_path), bundle_dir=str(bundle), bundle_manifest_sha256=manifest_sha,
        profile_name=prof.name, profile_path=label, profile_sha256=prof.sha256,
        profile_matches_bundle=prof.sha256 == target.get("profile_sha256"),
        backend=str(run.get("backend", "")), precision=str(run.get("precision", "")),
        accuracy=float(accuracy) if isinstance(accuracy, (int, float)) else None,
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
