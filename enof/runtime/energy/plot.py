"""PNG of an energy report: per-layer breakdown (main model), per-layer totals of every model, firing rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from enof.formats.atomic import atomic_open
from enof.runtime.energy.report import format_energy, main_model

PARTS = (("synops_pj", "synaptic ops"), ("neuron_updates_pj", "neuron updates"), ("routing_pj", "spike routing"))


def plot_report(report: dict, path: Path, main: str | None = None) -> None:
    """Write the PNG atomically (temporary file in the same folder, then rename)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = main_model(report, main)["name"]
    names = [layer["name"] for layer in report["layers"]]
    x = np.arange(len(names))
    fig, (ax_parts, ax_models, ax_rate) = plt.subplots(
        3, 1, figsize=(max(10.0, 1.1 * len(names) + 6), 11), constrained_layout=True
    )

    bottom = np.zeros(len(names))
    for key, label in PARTS:
        values = np.array([(layer["energy"][chosen][key] or 0.0) / 1e3 for layer in report["layers"]])
        if values.any():
            ax_parts.bar(x, values, bottom=bottom, label=label)
            bottom += values
    totals = main_model(report, main)["totals"]
    ax_parts.set_title(
        f"Chip energy per inference by layer and by what spends it ({chosen}): "
        f"chip {format_energy(totals['chip_pj'])}, host {format_energy(totals['host_pj'])}"
    )
    ax_parts.set_ylim(0, 1.12 * max(bottom.max(initial=0.0), 1e-9))
    ax_parts.set_ylabel("nJ per inference")
    ax_parts.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    models = report["models"]
    width = 0.8 / max(1, len(models))
    for i, m in enumerate(models):
        totals = np.array([(layer["energy"][m["name"]]["total_pj"] or 0.0) / 1e3 for layer in report["layers"]])
        if totals.any():
            ax_models.bar(x - 0.4 + width * (i + 0.5), np.where(totals > 0, totals, np.nan), width, label=m["name"])
    ax_models.set_yscale("log")
    ax_models.set_title("Chip energy per inference by layer under each cost model (log scale)")
    ax_models.set_ylabel("nJ per inference")
    ax_models.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    rates = [layer["firing_rate"] for layer in report["layers"]]
    ax_rate.bar(x, rates, color="tab:gray")
    for xi, rate in zip(x, rates):
        ax_rate.annotate(f"{rate:.3f}", (xi, rate), ha="center", va="bottom", fontsize="small")
    ax_rate.set_title(f"Firing rate (spikes per neuron per timestep, T = {report['timesteps']})")
    ax_rate.set_ylabel("spikes / neuron / step")
    ax_rate.set_ylim(0, max(0.05, 1.15 * max(rates, default=0.0)))

    for ax in (ax_parts, ax_models, ax_rate):
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=20, ha="right")
        ax.grid(axis="y", alpha=0.3)

    path = Path(path)
    try:
        with atomic_open(path, "wb") as handle:
            fig.savefig(handle, dpi=110, format="png")
    finally:
        plt.close(fig)
