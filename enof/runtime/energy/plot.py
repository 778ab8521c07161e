"""PNG of an energy report: what one inference costs (chip by layer, static, host by layer, the ANN baseline)
under the default model, every model's totals side by side, and the firing rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from enof.formats.atomic import atomic_open
from enof.runtime.energy.report import format_energy
from enof.runtime.energy.report_model import Report
from enof.runtime.energy.result import ModelEnergy
from enof.runtime.energy.time_report import format_time

PARTS = (("synops_pj", "synaptic ops"), ("neuron_updates_pj", "neuron updates"), ("routing_pj", "spike routing"))
# One colour per quantity, the same in every panel (matplotlib's tab10 by index)
COLOURS = {"synaptic ops": "tab:blue", "neuron updates": "tab:orange", "spike routing": "tab:green",
           "chip dynamic": "tab:purple", "static": "tab:red", "host": "tab:brown", "ANN baseline": "tab:gray",
           "firing rate": "tab:olive"}
TOTALS = (("priced_chip_dynamic_pj", "chip dynamic"), ("static_pj", "static"), ("priced_host_pj", "host"),
          ("ann_pj", "ANN baseline"))  # ModelEnergy's attributes


def plot_report(report: Report, path: Path, main: str | None = None) -> None:
    """Write the PNG atomically (temporary file in the same folder, then rename). Energies in pJ per inference
    on the y axes, labelled in readable units (nJ, µJ, mJ, J); layers under the names the tables show."""
    # lazy: matplotlib, only when a plot is drawn
    import matplotlib

    matplotlib.use("Agg")
    # lazy: after use("Agg"), as matplotlib asks
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    chosen = report.model(main)
    layers = report.result.layers
    fig, (ax_answer, ax_time, ax_models, ax_rate) = plt.subplots(
        4, 1, figsize=(max(10.0, 0.9 * (len(layers) + len(report.result.host_layers)) + 8), 16),
        constrained_layout=True,
    )
    _time_panel(ax_time, report)
    _answer_panel(ax_answer, report, chosen)
    _models_panel(ax_models, report)
    rates = [layer.firing_rate for layer in layers]
    x = np.arange(len(rates))
    ax_rate.bar(x, rates, color=COLOURS["firing rate"])
    for xi, rate in zip(x, rates):
        ax_rate.annotate(f"{rate:.3f}", (xi, rate), ha="center", va="bottom", fontsize="small")
    ax_rate.set_title(f"Firing rate of each chip layer (spikes per neuron per timestep, T = {report.result.timesteps})")
    ax_rate.set_ylabel("spikes / neuron / step")
    ax_rate.set_ylim(0, max(0.05, 1.15 * max(rates, default=0.0)))
    ax_rate.set_xticks(x, [report.shown(layer.name) for layer in layers], rotation=20, ha="right")
    readable = FuncFormatter(lambda pj, _: format_energy(pj))
    for ax in (ax_answer, ax_models):
        ax.yaxis.set_major_formatter(readable)
        ax.set_ylabel("per inference")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    for ax in (ax_answer, ax_time, ax_models, ax_rate):
        ax.grid(axis="y", alpha=0.3)
    headline = report.headline
    fig.suptitle(f"{chosen.model.name}: {format_energy(chosen.total_pj)} per inference"
                 + ("" if headline.latency_s is None else f", {format_time(headline.latency_s)} alone, "
                    f"{headline.inferences_per_s:,.0f} inferences/s streamed"))

    path = Path(path)
    try:
        with atomic_open(path, "wb") as handle:
            fig.savefig(handle, dpi=110, format="png")
    finally:
        plt.close(fig)


def _answer_panel(ax, report: Report, chosen: ModelEnergy) -> None:
    """Chip layers stacked by part, then static, each host layer and the ANN baseline, as bars on one axis."""
    name, layers = chosen.model.name, report.result.layers
    labels = [report.shown(layer.name) for layer in layers]
    bottom = np.zeros(len(labels))
    for key, label in PARTS:
        values = np.array([getattr(chosen.layers[layer.name], key) or 0.0 for layer in layers])
        if values.any():
            ax.bar(np.arange(len(labels)), values, bottom=bottom, color=COLOURS[label], label=label)
            bottom += values
    extra = [] if chosen.static_pj is None else [("static", "static", chosen.static_pj)]
    host = [(report.shown(h.name), "host", chosen.host_layer_pj(h.name)) for h in report.result.host_layers]
    extra += host or [("host", "host", chosen.priced_host_pj)]
    headline = report.headline
    extra.append((f"ANN ({headline.ann_model})", "ANN baseline", headline.ann_pj))
    seen = set()
    for i, (label, quantity, pj) in enumerate(extra, start=len(labels)):
        if pj is not None:
            ax.bar(i, pj, color=COLOURS[quantity], label=None if quantity in seen else quantity)
            seen.add(quantity)
    ax.set_ylim(0, 1.1 * max([bottom.max(initial=0.0), *(pj for _, _, pj in extra if pj is not None)]) or 1.0)
    ax.set_xticks(np.arange(len(labels) + len(extra)), labels + [label for label, _, _ in extra], rotation=20, ha="right")
    ax.set_title(f"One inference under {name} (the default model): chip layers by what spends it, static, host layers, "
                 "and the same network as a 1-step ANN")


def _models_panel(ax, report: Report) -> None:
    """Every model's chip dynamic, static, host and ANN energy side by side (log scale: models differ by 10^4)."""
    models = report.models
    x = np.arange(len(models))
    width = 0.8 / len(TOTALS)
    for j, (key, label) in enumerate(TOTALS):
        values = np.array([getattr(m, key) or 0.0 for m in models])
        if values.any():
            ax.bar(x - 0.4 + width * (j + 0.5), np.where(values > 0, values, np.nan), width, color=COLOURS[label],
                   label=label)
    ax.set_yscale("log")
    ax.set_xticks(x, report.model_names, rotation=20, ha="right")
    ax.set_title("Per inference under each cost model (log scale; a missing bar: the model does not price it)")


TIME_PARTS = (("compute", "compute (slowest core)"), ("mesh", "mesh"), ("barrier", "barrier"), ("io", "host I/O"))


def _time_panel(ax, report: Report) -> None:
    """The chip's time beside its energy: each wall step of one sample alone, stacked by what sets it."""
    # lazy: matplotlib, only when a plot is drawn
    from matplotlib.ticker import FuncFormatter

    if report.time is None:
        ax.text(0.5, 0.5, "time not modeled (the profile has no [timing]; give --timestep-us)", ha="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    steps = report.time.alone
    x = np.arange(len(steps))
    bottom = np.zeros(len(steps))
    for (key, label), colour in zip(TIME_PARTS, ("#4c72b0", "#dd8452", "#8c8c8c", "#c44e52")):
        if key == "io":  # the part of an I/O-bound step that I/O adds beyond compute + mesh + barrier
            values = np.array([max(0.0, s.io_s - s.compute_s - s.mesh_s - s.barrier_s) for s in steps])
        else:
            values = np.array([getattr(s, f"{key}_s") for s in steps])
        if values.any():
            ax.bar(x, values, bottom=bottom, color=colour, label=label)
            bottom += values
    ax.set_xticks(x, [f"{k}\n{report.shown(s.pacing_layer) if s.pacing_layer else ''}" for k, s in enumerate(steps)])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda seconds, _: format_time(seconds)))
    ax.set_ylabel("per wall step")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(f"Time of one sample alone ({report.time_source}): T = {report.result.timesteps} + {report.time.fill_steps} fill "
                 "steps, each as long as its slowest core + mesh + barrier, or its host I/O (pacing layer below)")
