"""The energy report as rich tables and plain text, read from the typed Report (report_model): the headline,
per layer, where it goes, hottest cores, host layers, totals, the chip's time, the ANN, the models' notes."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from enof.runtime.energy.report_model import ASSUMPTIONS, Report
from enof.runtime.energy.result import ModelEnergy, Parts
from enof.runtime.energy.time_report import format_time, time_tables

HOTTEST_CORES = 10
FED_BY_SEPARATOR = " + "  # the weight layers whose synapses sum into one LIF (a residual join has two)


def format_energy(pj: float | None) -> str:
    """pJ with a readable unit, three significant digits: 812 pJ, 3.41 nJ, 1.2 µJ, 4.56 mJ, 1.91 J."""
    if pj is None:
        return "—"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _share(value: float | None) -> str:
    """A share in % with 2 significant digits below 1% (0.021%), so small cores of big networks read apart."""
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if value >= 0.01 else f"{100 * value:.2g}%"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}x"


def _edp(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def _energy_and_share(m: ModelEnergy, parts: Parts) -> str:
    total = parts.priced_total_pj
    return "—" if total is None else f"{format_energy(total)} ({_share(m.share_of_chip(parts))})"


def headline_text(report: Report) -> Text:
    """The report's first lines: energy, latency, inferences/s and EDP per inference, each with its grades."""
    h, time = report.headline, report.time
    text = Text()
    text.append(f"Energy per inference: {format_energy(h.total_pj)}", style="bold")
    text.append(f" under {h.model} (the default cost model; the others below) [{', '.join(h.energy_grades)}]\n")
    if h.static_pj is None:
        static = f"static NOT priced: {h.static_note}"
    else:
        static = f"static {format_energy(h.static_pj)} for {h.chips_used} chip(s) over {format_time(h.static_s)} per inference"
    text.append(f"  chip {format_energy(h.chip_pj)} = dynamic {format_energy(h.chip_dynamic_pj)} + {static}\n")
    text.append(f"  host {format_energy(h.host_pj)}; total {format_energy(h.total_pj)}\n")
    if time is None:
        text.append("  time: not modeled (the profile has no [timing]; give --timestep-us)\n")
    else:
        how = "given by --timestep-us, not modeled" if report.time_given else ", ".join(report.time_grades)
        bound = report.latency_bound
        bound_text = "" if bound is None else f", ≤ {format_time(bound.latency_s)} for any sample"
        text.append(f"Latency per inference: {format_time(h.latency_s)}", style="bold")
        text.append(f" alone (T = {report.result.timesteps} + {time.fill_steps} fill steps{bound_text})\n")
        text.append(f"  {h.inferences_per_s:,.0f} inferences/s streamed; EDP {h.edp_js:.3g} J·s [{how}]\n")
        if report.time_assumptions:
            text.append(f"  time rests on assumptions: {', '.join(report.time_assumptions)}\n", style="dim")
    if h.ann_pj is not None:
        ratio = "" if h.ann_over_snn is None else f", {h.ann_over_snn:.3g}x the SNN under the same model"
        took = "" if h.ann_latency_s is None else f" in {format_time(h.ann_latency_s)}"
        text.append(f"  ANN baseline {format_energy(h.ann_pj)}{took} ({h.ann_model}: {h.ann_device}, 1 step{ratio})\n")
    if h.ann_lowest_pj is not None:
        text.append(f"  ANN at its cheapest {format_energy(h.ann_lowest_pj)}, no time ({h.ann_lowest_model}: "
                    f"{h.ann_lowest_device}, 1 step; the MAC accounting SNN papers compare against)\n")
    return text


def report_tables(report: Report, main: str | None = None) -> Group:
    """The rich renderables of the report: header, per-layer, breakdown, hottest cores, totals, models.
    ``main``: the cost model of the breakdown tables (a name of the profile's; default: the headline's)."""
    src, chosen = report.sources, report.model(main)
    head = headline_text(report)
    head.append(
        f"  run {src.run_path} ({src.backend}, {src.precision}, T={report.result.timesteps}, "
        f"{report.result.samples} samples)\n  bundle {src.bundle_dir}  profile {src.profile_path}"
        + ("" if src.profile_matches_bundle else " (NOT the profile the bundle was exported for)")
        + f"  routing {report.result.routing}"
    )
    host = [_host_table(report, chosen)] if report.result.host_layers else []
    return Group(head, _per_layer_table(report, chosen), _breakdown_table(report, chosen), _hottest_table(report, chosen),
                 *host, _totals_table(report), *time_tables(report), _ann_table(report), _notes(report))  # fmt: skip


def _per_layer_table(report: Report, chosen: ModelEnergy) -> Table:
    name = chosen.model.name
    table = Table(title=f"Per layer (share of the chip energy under {name})", title_justify="left")
    longest_weight = max((len(report.shown(w)) for layer in report.result.layers for w in layer.fed_by), default=0)
    table.add_column("layer", no_wrap=True)  # names are never broken: a cell may wrap only between names
    table.add_column("fed by", min_width=longest_weight)
    for col in ("neurons", "cores", "firing rate", "synops"):
        table.add_column(col, justify="right")
    for m in report.models:
        table.add_column(m.model.name, justify="right", min_width=len(m.model.name))
    for layer in report.result.layers:
        table.add_row(
            report.shown(layer.name), FED_BY_SEPARATOR.join(report.shown(w) for w in layer.fed_by), str(layer.neurons),
            str(layer.cores), f"{layer.firing_rate:.3f}", f"{layer.synops:,.0f}",
            *(_energy_and_share(m, m.layers[layer.name]) if m.model.name == name
              else format_energy(m.layers[layer.name].priced_total_pj) for m in report.models),
        )  # fmt: skip
    return table


def _breakdown_table(report: Report, chosen: ModelEnergy) -> Table:
    table = Table(title=f"Where it goes ({chosen.model.name})", title_justify="left")
    for col in ("layer", "synops", "neuron updates", "routing", "total", "share"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for layer in report.result.layers:
        p = chosen.layers[layer.name]
        table.add_row(report.shown(layer.name), format_energy(p.synops_pj), format_energy(p.neuron_updates_pj),
                      format_energy(p.routing_pj), format_energy(p.priced_total_pj), _share(chosen.share_of_chip(p)))
    return table


def _hottest_table(report: Report, chosen: ModelEnergy) -> Table:
    table = Table(title=f"Hottest cores ({chosen.model.name})", title_justify="left")
    for col in ("core", "layer", "neurons", "chip/tile", "firing rate", "msgs/spike", "hops/spike", "energy", "share"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    ranked = sorted(report.result.cores, key=lambda c: -(chosen.cores[c.core_id].priced_total_pj or 0.0))[:HOTTEST_CORES]
    for c in ranked:
        p = chosen.cores[c.core_id]
        table.add_row(
            str(c.core_id), report.shown(c.layer), str(c.neurons), f"{c.chip}/{c.tile}", f"{c.firing_rate:.3f}",
            f"{c.route.messages_per_spike:.2f}", f"{c.route.hops_ew_per_spike + c.route.hops_ns_per_spike:.2f}",
            format_energy(p.priced_total_pj), _share(chosen.share_of_chip(p)),
        )
    return table


def _totals_table(report: Report) -> Table:
    result = report.result
    table = Table(title=f"Totals per inference (SNN: T={result.timesteps} steps; ANN: 1 step, {result.ann_macs:,} MACs)",
                  title_justify="left")
    for col in ("model", "chip dynamic", "static", "static over", "host", "SNN total", "EDP (J·s)", "ANN", "ANN/SNN", "grades"):
        table.add_column(col, justify="left" if col in ("model", "grades") else "right")
    for m in report.models:
        table.add_row(
            m.model.name, format_energy(m.priced_chip_dynamic_pj), format_energy(m.static_pj), format_time(m.static_s),
            format_energy(m.priced_host_pj), format_energy(m.total_pj), _edp(report.edp_js(m)), format_energy(m.ann_pj),
            _ratio(m.ann_over_snn), ", ".join(m.constant_grades),
        )
    return table


def _host_table(report: Report, chosen: ModelEnergy) -> Table:
    table = Table(title=f"Host layers ({chosen.model.name}; ReLU and pooling do no MACs)", title_justify="left")
    for col in ("layer", "runs in", "MACs", "energy", "share of host"):
        table.add_column(col, justify="left" if col in ("layer", "runs in") else "right")
    host_pj = sum(chosen.host_layer_pj(h.name) or 0.0 for h in report.result.host_layers)
    for h in report.result.host_layers:
        pj = chosen.host_layer_pj(h.name)
        table.add_row(report.shown(h.name), f"{h.where}.onnx", f"{h.macs:,}", format_energy(pj),
                      _share(pj / host_pj if pj is not None and host_pj > 0 else None))
    return table


def _ann_table(report: Report) -> Table:
    result, time = report.result, report.time
    table = Table(
        title=f"The same network as a 1-step ANN ({result.ann_macs:,} MACs: chip synapses "
        f"{result.ann_macs - result.ann_host_macs:,} + host {result.ann_host_macs:,})",
        title_justify="left",
    )
    for col in ("model", "device", "MACs", "ANN energy", "ANN latency", "ANN EDP (J·s)", "SNN on chip",
                "SNN latency", "ANN / SNN"):
        table.add_column(col, justify="left" if col in ("model", "device") else "right")
    for m in report.ann_baselines:
        table.add_row(
            m.model.name, m.ann_device, f"{result.ann_macs:,}", format_energy(m.ann_pj), format_time(m.ann_latency_s),
            _edp(m.ann_edp_js), f"{format_energy(m.total_pj)} ({m.model.name})",
            format_time(None if time is None else time.latency_s), _ratio(m.ann_over_snn),
        )
    return table


def _notes(report: Report) -> Text:
    notes = Text()
    for m in report.models:
        notes.append(f"{m.model.name}: ", style="bold")
        notes.append(m.model.description + "\n")
        if m.not_priced:
            notes.append(f"  not priced here: {'; '.join(m.not_priced)}\n")
        if m.model.leaves_out:
            notes.append(f"  leaves out: {'; '.join(m.model.leaves_out)}\n")
    for line in ASSUMPTIONS:
        notes.append(f"* {line}\n", style="dim")
    return notes


def report_text(report: Report, width: int = 180, main: str | None = None) -> str:
    """The tables as plain text (for -o FILE)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(report_tables(report, main))
    return console.file.getvalue()
