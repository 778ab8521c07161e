"""What a sweep leaves in its folder: sweep.md (the table), sweep.json (the rows and the Pareto front) and
sweep.png (fixed-point accuracy against energy per inference, the Pareto front marked)."""

from __future__ import annotations

import json
from pathlib import Path

from enof.formats.atomic import atomic_write_text
from enof.runtime.energy.report import format_energy
from enof.sweep import COLUMNS, SweepConfig, pareto_keys, summarize

HEADS = ("T", "weight bits", "RepAct", "float acc %", "fixed acc %", "cores", "chips", "chip / inference",
         "host / inference", "total / inference", "Pareto")


def write_outputs(config: SweepConfig, runs: dict[int, dict[str, dict]], out: Path) -> dict[str, Path]:
    """Write the three files into ``out`` from every seed's points and return their paths by kind (md, json, png)."""
    points = summarize(runs)
    front = set(pareto_keys(points))
    paths = {"md": out / "sweep.md", "json": out / "sweep.json", "png": out / "sweep.png"}
    atomic_write_text(paths["md"], markdown(config, points, front))
    rows = [{**point, "pareto": key in front} for key, point in points.items()]
    seeds = [{"seed": seed, **{c: p[c] for c in COLUMNS}} for seed, by_key in runs.items() for p in by_key.values()]
    atomic_write_text(paths["json"], json.dumps({"target": config.target, "dataset": config.dataset,
                                                 "arch": config.arch, "points": rows, "runs": seeds}, indent=1) + "\n")
    plot(points, front, paths["png"], f"{config.dataset} {config.arch} on {config.target}")
    return paths


def _mean_std(point: dict, column: str, scale: float = 100.0) -> str:
    mean = f"{scale * point[column]:.2f}"
    return mean if point["seeds"] == 1 else f"{mean} ± {scale * point[column + '_std']:.2f}"


def markdown(config: SweepConfig, points: dict[str, dict], front: set[str]) -> str:
    """The table, one row a point (mean ± sample std over seeds when more than one), energies under the
    target's default cost model (named under the table)."""
    lines = ["| " + " | ".join(HEADS) + " |", "|" + "---|" * len(HEADS)]
    for key, p in points.items():
        cells = [str(p["timesteps"]), str(p["weight_bits"]), "on" if p["repact"] else "off",
                 _mean_std(p, "float_accuracy"), _mean_std(p, "fixed_accuracy"), str(p["cores"]),
                 str(p["chips"]), format_energy(p["chip_pj"]), format_energy(p["host_pj"]),
                 format_energy(p["total_pj"]), "★" if key in front else ""]
        lines.append("| " + " | ".join(cells) + " |")
    models = sorted({p["cost_model"] for p in points.values()})
    samples = sorted({p["test_samples"] for p in points.values()})
    seeds = ", ".join(map(str, config.seeds))
    return (f"# Sweep: {config.dataset} {config.arch} on {config.target}\n\n" + "\n".join(lines) +
            f"\n\nSeeds {seeds}: accuracy (percent, mean ± sample std over the seeds when more than one) of the "
            f"built-in simulator on {', '.join(map(str, samples))} test samples; energy per inference (mean over "
            f"the seeds) of the fixed-point run under the cost model {', '.join(models)}; cores and chips: the "
            "most any seed needed. ★: on the Pareto front (no other point has at least its mean fixed accuracy "
            "for no more energy).\n")


def plot(points: dict[str, dict], front: set[str], path: Path, title: str) -> None:
    """Mean fixed accuracy (%, ± std over seeds) against mean energy per inference (µJ), every point labelled,
    the front joined."""
    import matplotlib  # lazy: matplotlib loads only when a plot is drawn

    matplotlib.use("Agg")  # no display: a file only
    import matplotlib.pyplot as plt  # after use("Agg")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, p in points.items():
        x, y = p["total_pj"] / 1e6, 100 * p["fixed_accuracy"]
        ax.errorbar([x], [y], yerr=[100 * p["fixed_accuracy_std"]], fmt="o", capsize=3, zorder=3,
                    color="tab:red" if key in front else "tab:gray")  # the bar: ± std over seeds
        ax.annotate(key, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    line = sorted((points[k]["total_pj"] / 1e6, 100 * points[k]["fixed_accuracy"]) for k in front)
    ax.plot([x for x, _ in line], [y for _, y in line], color="tab:red", label="Pareto front")
    ax.ticklabel_format(axis="x", useOffset=False)  # energies close together: plain numbers, no "+3.6e3"
    ax.set_xlabel("energy per inference (µJ, chip + host)")
    ax.set_ylabel("fixed-point test accuracy (%)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    partial = path.with_name(path.name + ".partial")  # a reader never sees half a PNG
    fig.savefig(partial, dpi=120, format="png")
    plt.close(fig)
    partial.replace(path)
