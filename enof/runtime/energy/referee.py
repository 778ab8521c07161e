"""SANA-FE as the referee of the chip's energy and time: enof's recorded spikes replayed at enof's placement
on SANA-FE's calibrated Loihi architecture (docs/chip-time.md, shared/reference/sanafe.md).

SANA-FE runs in its own environment (the Makefile's .venv-sanafe: its wheel would shadow top-level packages),
so the replay is a job file (``write_replay_job``) that ``benchmarks/sanafe_replay.py`` runs there. enof's side
of the comparison prices the *same* spikes with the same rules: ``enof_replay_figures``.

Replayed, every neuron fires as recorded (SANA-FE's LIF is floating point and would drift from Loihi's
integers), every layer at the same step (aligned time, no pipeline), and events the host injects (input
currents or graded input) are not on the mesh: both sides leave them out.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from enof.errors import EnofError
from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.formats.run_result import HostCost
from enof.hardware_profiles import CostModel, TimingSection
from enof.runtime.bundle import open_bundle
from enof.runtime.counts import count_activity
from enof.runtime.energy.inputs import mesh_from_profile, projections_from_program
from enof.runtime.energy.price import PJ_PER_J, EnergyInputs, compute_energy
from enof.runtime.energy.routing import MeshGeometry
from enof.runtime.energy.timing import NS_PER_S
from enof.runtime.fast import simulate
from enof.runtime.host import run_host_in
from enof.runtime.inputs import load_test_split
from enof.runtime.program import INPUT, ChipProgram
from enof.runtime.step_activity import StepRecorder
from enof.synapses import positions, reach


def sanafe_core_index(cores: list[PlacedCore], cores_per_tile: int, tiles_y: int) -> dict[int, int]:
    """enof core id → SANA-FE global core index: tile id x·tiles_y + y (SANA-FE: x = id // 4, y = id % 4), then
    the core's place among its tile's cores by core id."""
    by_tile: dict[tuple[int, int], list[int]] = {}
    for core in sorted(cores, key=lambda c: c.core_id):
        if core.chip != 0:
            raise EnofError(f"core {core.core_id} is on chip {core.chip}: SANA-FE models one chip")
        by_tile.setdefault((core.x, core.y), []).append(core.core_id)
    out = {}
    for (x, y), ids in by_tile.items():
        for offset, core_id in enumerate(ids):
            out[core_id] = (x * tiles_y + y) * cores_per_tile + offset
    return out


def write_replay_job(path: Path, program: ChipProgram, cores: list[PlacedCore], mesh: MeshGeometry,
                     rasters: dict[str, np.ndarray]) -> Path:
    """The replay job (benchmarks/sanafe_replay.py reads it): per layer each neuron's SANA-FE core and its spike
    train (steps, neurons), per chip synapse the (source, target) neuron pairs it connects."""
    index = sanafe_core_index(cores, mesh.cores_per_tile, mesh.tiles_y)
    names = list(program.layers)
    arrays: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        layer = program.layers[name]
        where = np.full(layer.neurons, -1, np.int32)
        for core in cores:
            if core.layer == name:
                where[core_neuron_indices(core, layer.shape)] = index[core.core_id]
        arrays[f"layer{i}_core"] = where
        arrays[f"layer{i}_spikes"] = np.asarray(rasters[name], np.uint8).reshape(-1, layer.neurons)
    edges = [s for s in program.synapses if s.source != INPUT]
    for k, syn in enumerate(edges):
        source_shape = program.shape_of(syn.source)
        groups, channels = positions(source_shape), int(np.prod(source_shape)) // positions(source_shape)
        pairs = []
        for position, targets in reach(syn.connection):
            sources = (np.arange(int(np.prod(source_shape))) if isinstance(position, slice)
                       else np.arange(channels) * groups + position)  # fmt: skip
            pairs.append(np.stack(np.meshgrid(sources, targets, indexing="ij"), -1).reshape(-1, 2))
        arrays[f"edge{k}_src"], arrays[f"edge{k}_dst"] = np.int64(names.index(syn.source)), np.int64(names.index(syn.target))
        arrays[f"edge{k}_pairs"] = np.concatenate(pairs).astype(np.int32)
    steps = next(iter(rasters.values())).shape[0]
    np.savez(path, timesteps=np.int64(steps), cores_per_tile=np.int64(mesh.cores_per_tile),
             layer_names=np.array(names), edge_count=np.int64(len(edges)), **arrays)
    return path


def run_sanafe(job: Path, arch: Path, out: Path, python: Path, script: Path, timing_model: str = "detailed",
               timeout_s: float = 600.0) -> dict:
    """Run the replay in SANA-FE's environment under its ``timing_model``; its JSON result."""
    done = subprocess.run([str(python), str(script), str(job), "--arch", str(arch), "-o", str(out),
                           "--timing-model", timing_model], capture_output=True, text=True, timeout=timeout_s)  # fmt: skip
    if done.returncode != 0:
        raise EnofError(f"SANA-FE replay failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return json.loads(out.read_text())


@dataclass(frozen=True)
class ReplayFigures:
    """enof's prices and time for a replay, per component (J) and per step (s)."""

    synapse_j: float
    soma_j: float
    network_j: float
    step_s: tuple[float, ...]
    messages: int
    synaptic_events: int

    @property
    def sim_time_s(self) -> float:
        return float(sum(self.step_s))


def enof_replay_figures(program: ChipProgram, cores: list[PlacedCore], rasters: dict[str, np.ndarray],
                        model: CostModel, timing: TimingSection, mesh: MeshGeometry) -> ReplayFigures:
    """The same spikes under enof's own energy and time models: counts per core and step (StepRecorder, host
    events left out), priced by ``model`` (``compute_energy``, geometric routing) and timed by ``timing`` in
    aligned time. Rasters are (steps, neurons) per layer."""
    steps = next(iter(rasters.values())).shape[0]
    replay = dataclasses.replace(program, timesteps=steps, input_temporal=False)
    recorder = StepRecorder(replay, cores)
    spikes = {n: np.asarray(r).reshape(steps, 1, *program.layers[n].shape) for n, r in rasters.items()}
    no_input = np.zeros((1, *program.input_shape), np.int64)
    recorder.add_batch(spikes, no_input)
    counts = {n: np.asarray(r).reshape(steps, *program.layers[n].shape).sum(0).astype(np.int64) for n, r in rasters.items()}
    activity = count_activity(replay, counts, no_input[0], 1, cores)
    inputs = EnergyInputs(
        timesteps=steps, samples=1, input_mode=program.input_mode, layers=tuple(activity.layers),
        cores=tuple(activity.cores), host=HostCost(0, 0, 0, 0), placement=tuple(cores),
        projections=tuple(p for p in projections_from_program(replay) if p.source != INPUT), mesh=mesh,
        per_step=tuple(recorder.core_steps()), depths={n: 1 for n in program.layers}, timing=timing,
    )  # fmt: skip
    result = compute_energy(inputs, [model], replay=True)
    priced = result.models[0]
    layers = priced.layers.values()
    return ReplayFigures(
        synapse_j=sum(p.synops_pj for p in layers) / PJ_PER_J, soma_j=sum(p.neuron_updates_pj for p in layers) / PJ_PER_J,
        network_j=sum(p.routing_pj for p in layers) / PJ_PER_J,
        step_s=tuple(s.step_ns / NS_PER_S for s in result.time.stream),
        messages=sum(sum(s.messages_out) for s in inputs.per_step), synaptic_events=sum(a.synops for a in activity.layers),
    )  # fmt: skip


ROOT = Path(__file__).resolve().parents[3]
REPLAY_SCRIPT = ROOT / "benchmarks" / "sanafe_replay.py"
SANAFE_PYTHON = ROOT / ".venv-sanafe" / "bin" / "python"
COMPONENTS = ("synapse", "soma", "network")


@dataclass(frozen=True)
class RefereeComparison:
    """enof's and SANA-FE's figures for the same replayed spikes of one bundle."""

    bundle: str
    samples: int
    steps: int
    enof: ReplayFigures
    sanafe: dict  # benchmarks/sanafe_replay.py's JSON

    def energy_ratio(self, component: str) -> float:
        """SANA-FE / enof for synapse, soma or network energy."""
        return self.sanafe["energy_j"][component] / getattr(self.enof, f"{component}_j")

    @property
    def time_ratio(self) -> float:
        """SANA-FE's simulated time per step / enof's modeled one (over the whole replay)."""
        return self.sanafe["sim_time_s"] / self.enof.sim_time_s


def compare_with_sanafe(bundle_dir: Path, samples: int, workdir: Path, timing_model: str = "detailed",
                        data_root: Path | None = None) -> RefereeComparison:
    """Replay the first ``samples`` test samples of a Loihi 1 bundle, back to back (T steps each), on SANA-FE and
    price the same spikes with enof's ``sanafe_loihi`` model and [timing]."""
    bundle = open_bundle(Path(bundle_dir))
    program, profile = bundle.program, bundle.profile
    x = _test_samples(bundle, samples, data_root)  # normalized by the data set's loader
    if program.input_mode == "current":
        x = run_host_in(bundle.host_session("host_in.onnx"), x)
    run = simulate(program, x, "fixed", record_spikes=True)
    # (T, B, *shape) → samples back to back: (B·T, neurons)
    rasters = {n: np.swapaxes(s, 0, 1).reshape(samples * program.timesteps, -1) for n, s in run.spikes.items()}
    mesh = mesh_from_profile(profile)
    cores = list(bundle.placement.cores)
    enof = enof_replay_figures(program, cores, rasters, profile.cost_models["sanafe_loihi"], profile.timing, mesh)
    workdir.mkdir(parents=True, exist_ok=True)
    job = write_replay_job(workdir / "job.npz", program, cores, mesh, rasters)
    arch = _sanafe_arch()
    sanafe = run_sanafe(job, arch, workdir / "sanafe.json", SANAFE_PYTHON, REPLAY_SCRIPT, timing_model)
    return RefereeComparison(str(bundle_dir), samples, samples * program.timesteps, enof, sanafe)


def _sanafe_arch() -> Path:
    """SANA-FE's own Loihi architecture, as its wheel ships it (arch/loihi.yaml at 4f6bed4, byte for byte)."""
    done = subprocess.run([str(SANAFE_PYTHON), "-c", "import sanafe, pathlib; print(pathlib.Path(sanafe.__file__).parent"
                           " / 'examples' / 'loihi.yaml')"], capture_output=True, text=True, timeout=60)  # fmt: skip
    if done.returncode != 0:
        raise EnofError(f"{SANAFE_PYTHON}: SANA-FE is not installed there (make install builds .venv-sanafe)")
    return Path(done.stdout.strip())


def _test_samples(bundle, samples: int, data_root: Path | None) -> np.ndarray:
    """The first ``samples`` inputs of the bundle's test split, as its loader gives them."""
    return load_test_split(bundle.manifest.dataset_name, data_root, samples, bundle)[0]
