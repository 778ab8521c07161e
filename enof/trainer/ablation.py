"""The EnOF ablation: baseline, +L_AF, +RepAct, both, and vanilla KD, per T and seed.

One ANN teacher per seed, trained once and reused by every variant and T of that seed (the
teacher is an ANN: it does not depend on T). Results are written as a markdown table and a JSON
file, mean ± sample std over seeds per cell, with every individual run kept in the JSON.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from enof.formats.atomic import atomic_write_text
from enof.datasets import LoadedDataset, dataset_spec, load_dataset
from enof.trainer.loop import TrainConfig, TrainProgress, train, train_teacher

# name: (laf, repact, kd) — the paper's four cells plus the vanilla-KD baseline.
VARIANTS: dict[str, tuple[bool, bool, bool]] = {
    "baseline": (False, False, False),
    "+L_AF": (True, False, False),
    "+RepAct": (False, True, False),
    "+L_AF +RepAct (EnOF)": (True, True, False),
    "vanilla KD": (False, False, True),
}


@dataclass
class AblationConfig:
    """The grid (seeds × T × variants) and the training settings shared by every run."""

    base: TrainConfig = field(default_factory=TrainConfig)
    seeds: int = 5
    timesteps: tuple[int, ...] = (1, 2, 4)
    output: str = "docs/ablation-digits.md"


@dataclass
class AblationRun:
    variant: str
    timesteps: int
    seed: int
    test_accuracy: float
    teacher_test_accuracy: float | None
    wall_s: float


def _summary(runs: list[AblationRun], timesteps: tuple[int, ...]) -> dict[str, dict[str, dict]]:
    """{variant: {T: {mean, std, n}}} of test accuracy in percent (sample std; 0 for one seed)."""
    table: dict[str, dict[str, dict]] = {}
    for variant in VARIANTS:
        table[variant] = {}
        for steps in timesteps:
            values = [100 * r.test_accuracy for r in runs if r.variant == variant and r.timesteps == steps]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                table[variant][str(steps)] = {"mean": statistics.fmean(values), "std": std, "n": len(values)}
    return table


def run_ablation(config: AblationConfig, progress: TrainProgress | None = None, log=print) -> dict:
    """Train the whole grid; returns the JSON-ready result (also written by `write_ablation`)."""
    base = config.base.resolved()
    progress = progress or TrainProgress(enabled=False)
    loaded: dict[int, LoadedDataset] = {}

    def data_for(steps: int) -> LoadedDataset:
        """The splits for T = ``steps``: event recordings are binned into that many frames, images are
        the same for every T (loaded once)."""
        key = steps if dataset_spec(base.dataset).temporal else 0
        if key not in loaded:
            loaded[key] = load_dataset(base.dataset, base.data_root, train_augment=True, timesteps=max(key, 1),
                                       frame_hw=base.frame_size)
        return loaded[key]

    runs: list[AblationRun] = []
    teachers: dict[int, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="enof-ablation-") as work:
        for seed in range(config.seeds):
            seed_base = replace(base, seed=seed, out=str(Path(work) / f"seed{seed}" / "model.pt"))
            teacher_path, teachers[seed] = train_teacher(seed_base, data_for(config.timesteps[0]), progress)
            log(f"seed {seed}: teacher test accuracy {100 * teachers[seed]:.1f}%")
            for steps in config.timesteps:
                for variant, (laf, repact, kd) in VARIANTS.items():
                    run_config = replace(
                        seed_base, timesteps=steps, laf=laf, repact=repact, kd=kd,
                        tau=None, teacher=str(teacher_path) if (laf or kd or base.init == "teacher") else None,
                        out=str(Path(work) / f"seed{seed}" / f"T{steps}-{len(runs)}.pt"),
                    )
                    t0 = time.perf_counter()
                    result = train(run_config, progress=progress, data=data_for(steps))
                    runs.append(AblationRun(variant, steps, seed, result.test_accuracy, teachers[seed],
                                            time.perf_counter() - t0))
                    log(f"seed {seed} T={steps} {variant}: {100 * result.test_accuracy:.2f}%")
    settings = {k: v for k, v in asdict(base).items() if k not in ("out", "resume", "teacher", "seed", "timesteps",
                                                                   "laf", "repact", "kd", "data_root")}
    return {
        "format": "enof-ablation",
        "format_version": 1,
        "dataset": base.dataset,
        "arch": base.arch,
        "seeds": list(range(config.seeds)),
        "timesteps": list(config.timesteps),
        "variants": {name: dict(zip(("laf", "repact", "kd"), flags)) for name, flags in VARIANTS.items()},
        "settings": settings,
        "teacher_test_accuracy_percent": {str(s): 100 * a for s, a in teachers.items()},
        "summary_percent": _summary(runs, config.timesteps),
        "runs": [asdict(r) for r in runs],
        "test_images": len(data_for(config.timesteps[0]).test),
        "wall_s": time.perf_counter() - started,
    }


def paired_differences(result: dict) -> dict[str, dict[str, dict]]:
    """{variant: {T: {mean, std, n}}}: per seed, variant minus baseline (percentage points).

    The runs of one seed share the teacher, the SNN's initial weights and the data order, so the
    paired difference removes most of the seed-to-seed spread that the cells carry."""
    by_key = {(r["variant"], r["timesteps"], r["seed"]): 100 * r["test_accuracy"] for r in result["runs"]}
    table: dict[str, dict[str, dict]] = {}
    for variant in VARIANTS:
        if variant == "baseline":
            continue
        table[variant] = {}
        for steps in result["timesteps"]:
            diffs = [by_key[(variant, steps, s)] - by_key[("baseline", steps, s)] for s in result["seeds"]
                     if (variant, steps, s) in by_key and ("baseline", steps, s) in by_key]
            if diffs:
                std = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                table[variant][str(steps)] = {"mean": statistics.fmean(diffs), "std": std, "n": len(diffs)}
    return table


def markdown_table(result: dict, command: str = "") -> str:
    """The summary as a markdown page: one row per variant, one column per T, mean ± std (n seeds)."""
    steps = [str(t) for t in result["timesteps"]]
    settings = result["settings"]
    teacher = list(result["teacher_test_accuracy_percent"].values())
    lines = [
        f"# EnOF ablation on {result['dataset']} ({result['arch']})",
        "",
        f"Test accuracy (%), mean ± sample std over {len(result['seeds'])} seeds "
        f"({', '.join(map(str, result['seeds']))}); one ANN teacher per seed, shared by all variants and T.",
        "",
        "| variant | " + " | ".join(f"T = {t}" for t in steps) + " |",
        "|---|" + "---|" * len(steps),
    ]
    for variant, cells in result["summary_percent"].items():
        row = [f"{cells[t]['mean']:.2f} ± {cells[t]['std']:.2f}" if t in cells else "—" for t in steps]
        lines.append(f"| {variant} | " + " | ".join(row) + " |")
    differences = paired_differences(result)
    if any(differences.values()):
        lines += ["", "Paired difference to the baseline (percentage points, per seed, then mean ± std):", "",
                  "| variant − baseline | " + " | ".join(f"T = {t}" for t in steps) + " |",
                  "|---|" + "---|" * len(steps)]
        for variant, cells in differences.items():
            row = [f"{cells[t]['mean']:+.2f} ± {cells[t]['std']:.2f}" if t in cells else "—" for t in steps]
            lines.append(f"| {variant} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"ANN teacher: {statistics.fmean(teacher):.2f} ± {statistics.stdev(teacher) if len(teacher) > 1 else 0:.2f} %.",
        "",
        "Settings: " + ", ".join(f"{k} = {v}" for k, v in settings.items()) + ".",
        "L_AF: λ·τ²·KL through the teacher's frozen classifier (τ = 20); vanilla KD: on the SNN's own "
        "logits (τ = 3); RepAct: last LIF → ReLU. "
        f"The test split has {result['test_images']} images (one image = {100 / result['test_images']:.2f} %).",
        f"Total wall time: {result['wall_s'] / 60:.1f} min.",
    ]
    if command:
        lines += ["", f"Produced by `{command}`; every run is in the JSON file beside this page."]
    return "\n".join(lines) + "\n"


def write_ablation(result: dict, output: str | Path, command: str = "") -> tuple[Path, Path]:
    """Write `<output>.md` and `<output>.json` (the suffix of `output` is replaced)."""
    output = Path(output)
    md_path, json_path = output.with_suffix(".md"), output.with_suffix(".json")
    atomic_write_text(json_path, json.dumps(result, indent=1) + "\n")
    atomic_write_text(md_path, markdown_table(result, command))
    return md_path, json_path
