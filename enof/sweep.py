"""The accuracy–energy sweep behind enof-sweep: over T, weight bits and RepAct, train (or reuse) the SNN,
fine-tune it for the target at those weight bits, export, run the built-in simulator in float and in fixed
point on the whole test split, and price the fixed-point run under the target's default cost model.

Each seed has its folder ``<out>/seed<N>``: every finished point is kept in its ``results.json`` (rewritten
atomically after each point), so a rerun skips it; trained models sit in its ``models`` and are reused. One
ANN teacher per seed serves every SNN (it has no T and no RepAct). ``summarize`` gives each point's mean and
sample std over the seeds; enof.sweep_report writes sweep.md, sweep.json and sweep.png from them.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from enof.datasets import check_data_root, dataset_spec
from enof.errors import EnofError
from enof.exporter.export import export_bundle
from enof.exporter.finetune_target import ExportQuantizer
from enof.fixed_point_rules import FixedPointLimits
from enof.formats.atomic import atomic_write_text
from enof.formats.run_result import write_run_result
from enof.hardware_profiles import load_profile
from enof.runtime.bundle import open_bundle
from enof.runtime.energy.inputs import energy_inputs
from enof.runtime.energy.report_model import priced_report
from enof.runtime.inputs import load_test_split
from enof.runtime.run import run_bundle
from enof.trainer.config import TrainConfig
from enof.trainer.finetune import FinetuneConfig, finetune
from enof.trainer.loop import train
from enof.trainer.models.registry import ARCHITECTURES, unknown_architecture
from enof.trainer.progress import TrainProgress
from enof.trainer.ranges import seed_in_range, timesteps_in_range

RESULTS_NAME = "results.json"
COLUMNS = ("timesteps", "weight_bits", "repact", "float_accuracy", "fixed_accuracy", "cores", "chips",
           "chip_pj", "host_pj", "total_pj")


@dataclass(frozen=True)
class SweepConfig:
    """What one sweep covers and how long each training step runs (None: the recipe's / finetune's default)."""

    out: str
    dataset: str = "digits"
    arch: str = "digits_cnn"
    target: str = "loihi"
    timesteps: tuple[int, ...] = (1, 2, 4)
    weight_bits: tuple[int, ...] = (8, 6, 4)
    repact: tuple[bool, ...] = (True, False)
    epochs: int | None = None
    teacher_epochs: int | None = None
    finetune_epochs: int = 3
    train_limit: int | None = None
    seeds: tuple[int, ...] = (0,)
    data_root: str | None = None  # the data set's folder (every data set but digits and mnist5k)
    device: str = "auto"  # training, fine-tuning and the built-in simulator
    frame_size: tuple[int, int] | None = None  # event data sets: the frame size the architecture takes

    def points(self) -> list[tuple[int, int, bool]]:
        """(T, weight bits, RepAct) of every point, T outermost so that a trained model serves its bits in a row."""
        return list(itertools.product(self.timesteps, self.weight_bits, self.repact))

    def check(self) -> None:
        """Every value usable before any work: non-empty lists, a known data set and arch, bits the target takes."""
        for flag, values in (("--timesteps", self.timesteps), ("--weight-bits", self.weight_bits),
                             ("--repact", self.repact), ("--seeds", self.seeds)):
            if not values:
                raise EnofError(f"{flag}: an empty list; give at least one value")
        timesteps_in_range(self.timesteps, "--timesteps")
        for seed in self.seeds:
            seed_in_range(seed, "--seeds")
        for name in ("epochs", "teacher_epochs", "train_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise EnofError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.finetune_epochs < 1:
            raise EnofError(f"--finetune-epochs must be >= 1, got {self.finetune_epochs}")
        if Path(self.out).exists() and not Path(self.out).is_dir():
            raise EnofError(f"-o {self.out}: a file, not a folder; the sweep needs a folder for its models and results")
        dataset_spec(self.dataset, self.frame_size)
        check_data_root(self.dataset, self.data_root)
        if self.arch not in ARCHITECTURES:
            raise EnofError(f"--arch {self.arch}: unknown architecture, {unknown_architecture(self.arch)}")
        profile = load_profile(self.target)
        for bits in self.weight_bits:
            FixedPointLimits.from_profile(profile, bits)  # DoesNotFitError names the bits the target takes


def point_key(timesteps: int, weight_bits: int, repact: bool) -> str:
    return f"T{timesteps}-w{weight_bits}-repact-{'on' if repact else 'off'}"


# Settings a finished point depends on beyond its own (T, bits, RepAct, seed): a rerun must share them to reuse it.
SHARED = ("dataset", "arch", "target", "epochs", "teacher_epochs", "finetune_epochs", "train_limit")
# A results file written before frame_size was a setting: it was made at the data set's own frame size.
SHARED_SINCE = {"frame_size": None}


def seed_folder(config: SweepConfig, seed: int) -> Path:
    return Path(config.out) / f"seed{seed}"


def load_results(config: SweepConfig, seed: int) -> dict[str, dict]:
    """The finished points of an earlier (interrupted) sweep of ``seed``, by point key; {} when none.
    A results file made with other shared settings is refused (its points would not be this sweep's)."""
    path = seed_folder(config, seed) / RESULTS_NAME
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text())
        points, before = stored["points"], stored["config"]
        before = {**SHARED_SINCE, **before}
        differ = [k for k in (*SHARED, *SHARED_SINCE) if _listed(before[k]) != _listed(getattr(config, k))]
        made_for = before["seed"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EnofError(f"{path}: not a sweep results file ({exc}); remove it to start the sweep afresh") from None
    if made_for != seed:
        raise EnofError(f"{path}: made for seed {made_for}, found in the folder of seed {seed}")
    if differ:
        was = ", ".join(f"{k} {before[k]} (now {getattr(config, k)})" for k in differ)
        raise EnofError(f"{path}: made with other settings: {was}; use another -o folder or the same settings")
    return points


def run_sweep(config: SweepConfig, report: Callable[[str, str], None] | None = None) -> dict[int, dict[str, dict]]:
    """Run every (seed, point) not already in its seed's results.json; returns {seed: {key: point}} in sweep
    order. ``report(label, what)`` is told when one starts ("start"), is skipped ("skipped") or ends ("done")."""
    config.check()
    report = report or (lambda label, what: None)
    tests: dict = {}  # the test split binned per T (an event data set), or once (static images)
    runs = {}
    for seed in config.seeds:
        folder = seed_folder(config, seed)
        results = load_results(config, seed)
        (folder / "models").mkdir(parents=True, exist_ok=True)
        record = {**{k: _listed(getattr(config, k)) for k in (*SHARED, *SHARED_SINCE)}, "seed": seed}
        for t, bits, repact in config.points():
            key = point_key(t, bits, repact)
            label = f"seed {seed} {key}"
            if key in results:
                report(label, "skipped")
                continue
            report(label, "start")
            model = _trained_model(config, seed, t, repact)
            results[key] = _measure(config, seed, model, t, bits, repact, folder / "points" / key, tests)
            atomic_write_text(folder / RESULTS_NAME, json.dumps({"config": record, "points": results}, indent=1))
            report(label, "done")
        runs[seed] = {point_key(*p): results[point_key(*p)] for p in config.points()}
    return runs


MEASURED = ("float_accuracy", "fixed_accuracy", "chip_pj", "host_pj", "total_pj")


def summarize(runs: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """Per point: the mean of every measured column over the seeds, its sample std (``<column>_std``, 0 for one
    seed), and the most cores and chips any seed needed (what a deployment must provide)."""
    keys = list(next(iter(runs.values())))
    summary = {}
    for key in keys:
        rows = [runs[seed][key] for seed in runs]
        point = {k: rows[0][k] for k in ("timesteps", "weight_bits", "repact", "cost_model", "test_samples")}
        point.update(seeds=len(rows), cores=max(r["cores"] for r in rows), chips=max(r["chips"] for r in rows))
        for column in MEASURED:
            values = [r[column] for r in rows]
            point[column] = statistics.fmean(values)
            point[f"{column}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary[key] = point
    return summary


def _listed(value):
    """A tuple as JSON reads it back (a list), so that a stored setting compares equal to the config's."""
    return list(value) if isinstance(value, tuple) else value


def _trained_model(config: SweepConfig, seed: int, timesteps: int, repact: bool) -> Path:
    """``<out>/models/T<T>-repact-on|off.pt``, trained now unless it exists (an interrupted training continues
    from its last finished epoch); the first trained model's teacher is given to the others."""
    models = seed_folder(config, seed) / "models"
    path = models / f"T{timesteps}-repact-{'on' if repact else 'off'}.pt"
    if path.exists():
        return path
    teachers = sorted(models.glob("*.teacher.pt"))
    train(TrainConfig(dataset=config.dataset, arch=config.arch, timesteps=timesteps, repact=repact, seed=seed,
                      epochs=config.epochs, teacher_epochs=config.teacher_epochs, train_limit=config.train_limit,
                      teacher=str(teachers[0]) if teachers else None, out=str(path), resume=True,
                      data_root=config.data_root, device=config.device,
                      frame_size=None if config.frame_size is None else list(config.frame_size)),
          progress=TrainProgress(enabled=False))  # fmt: skip  (resume: an interrupted training goes on from its last epoch)
    return path


def _measure(config: SweepConfig, seed: int, model: Path, timesteps: int, bits: int, repact: bool, folder: Path,
             tests: dict) -> dict:
    """Fine-tune at ``bits``, export with them, run float and fixed, price the fixed run: one row of the table."""
    folder.mkdir(parents=True, exist_ok=True)
    tuned = folder / "model-ft.pt"
    finetune(FinetuneConfig(str(model), config.target, epochs=config.finetune_epochs, seed=seed,
                            train_limit=config.train_limit, weight_bits=bits, out=str(tuned),
                            data_root=config.data_root, device=config.device), ExportQuantizer)  # fmt: skip
    exported = export_bundle(tuned, config.target, folder / "bundle", weight_bits=bits, data_root=config.data_root)
    bundle = open_bundle(exported.out_dir)
    split = timesteps if bundle.program.input_temporal else None  # event recordings are binned at each T
    if split not in tests:
        tests[split] = load_test_split(bundle.manifest.dataset_name, config.data_root, None, bundle)
    test = tests[split]
    runs = {p: run_bundle(bundle, test[0], test[1], backend="fast", precision=p, progress=False, device=config.device)
            for p in ("float", "fixed")}
    run_json = write_run_result(runs["fixed"], folder / "run.json")
    inputs, models, sources = energy_inputs(runs["fixed"], run_json, bundle)  # nothing read again
    headline = priced_report(inputs, models, sources).headline
    return {
        "timesteps": timesteps, "weight_bits": bits, "repact": repact,
        "float_accuracy": runs["float"].accuracy, "fixed_accuracy": runs["fixed"].accuracy,
        "cores": len(exported.placement.cores), "chips": exported.placement.chips,
        "chip_pj": headline.chip_pj, "host_pj": headline.host_pj, "total_pj": headline.total_pj,
        "cost_model": headline.model, "test_samples": int(len(test[1])),
    }  # fmt: skip


def pareto_keys(points: dict[str, dict]) -> list[str]:
    """Points no other point beats: none has at least their fixed accuracy at no more energy, better in one."""
    def beaten(a: dict) -> bool:
        return any(b["fixed_accuracy"] >= a["fixed_accuracy"] and b["total_pj"] <= a["total_pj"]
                   and (b["fixed_accuracy"] > a["fixed_accuracy"] or b["total_pj"] < a["total_pj"])
                   for b in points.values())
    return [k for k, p in points.items() if not beaten(p)]
