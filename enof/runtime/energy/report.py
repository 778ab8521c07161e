"""An EnergyResult as a report: a JSON-ready dict (every number of the tables), CSV rows, rich tables."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from enof.hardware_profiles import TimingSection, grades_of
from enof.runtime.energy.inputs import EnergySources
from enof.runtime.energy.price import PJ_PER_J
from enof.runtime.energy.result import EnergyResult, ModelEnergy, Parts
from enof.runtime.energy.timing import ChipTime
from enof.runtime.energy.time_report import format_time, time_dict, time_tables

REPORT_FORMAT = "enof-energy"
HOTTEST_CORES = 10
FED_BY_SEPARATOR = " + "  # the weight layers whose synapses sum into one LIF (a residual join has two)

ASSUMPTIONS = (
    "Per inference = totals over the run / samples; the SNN runs T timesteps, the ANN baseline one step "
    "(every synapse of every layer once: chip synapses without padding + the host's MACs of one step).",
    "run.json does not tell active from inactive neuron updates: updates at steps where the neuron spiked "
    "are charged active, the rest inactive.",
    "Synaptic ops are charged to the receiving layer, spike routing to the sending layer. A spike is one "
    "message per destination core: within-tile energy + E-W/N-S hops between tiles (chips continue the mesh).",
    "Input events from the host and spikes to the host are host<->chip bytes, not mesh traffic.",
    "Every model prices the events the chip did (event-driven), also the CPU/GPU ones: their SNN row is the "
    "SNN's operations at that device's per-op energy, not a dense CPU/GPU simulation of the SNN.",
)


def _parts_dict(parts: Parts, share_of_pj: float) -> dict:
    return {
        "synops_pj": parts.synops_pj,
        "neuron_updates_pj": parts.neuron_updates_pj,
        "routing_pj": parts.routing_pj,
        "total_pj": parts.total_pj if parts.priced else None,
        "share": parts.total_pj / share_of_pj if parts.priced and share_of_pj > 0 else None,
    }


def _totals(m: ModelEnergy, time: ChipTime | None) -> dict:
    dynamic = any(p.priced for p in m.layers.values())
    return {
        "chip_dynamic_pj": m.chip_dynamic_pj if dynamic else None,
        "static_pj": m.static_pj,
        "static_s": m.static_s,
        "edp_js": None if time is None else m.total_pj / PJ_PER_J * time.latency_s,
        "chip_pj": m.chip_pj,
        "host_compute_pj": m.host_compute_pj,
        "host_io_pj": m.host_io_pj,
        "host_pj": None if m.host_compute_pj is None and m.host_io_pj is None else m.host_pj,
        "total_pj": m.total_pj,
        "ann_pj": m.ann_pj,
        "ann_latency_s": m.ann_latency_s,
        "ann_edp_js": _ann_edp_js(m),
        "ann_over_snn": m.ann_over_snn,
    }


def _ann_edp_js(m: ModelEnergy) -> float | None:
    return None if m.ann_latency_s is None else m.ann_pj / PJ_PER_J * m.ann_latency_s


def report_dict(result: EnergyResult, sources: EnergySources, timing: TimingSection | None = None) -> dict:
    """Every number of the report, energies in pJ per inference."""
    models = result.models
    layers = []
    for a in result.layers:
        entry = {k: v for k, v in dataclasses.asdict(a).items()}
        entry["fed_by"] = list(a.fed_by)
        entry["spikes_per_inference"] = entry.pop("spikes")
        entry["synops_per_inference"] = entry.pop("synops")
        entry["energy"] = {m.model.name: _parts_dict(m.layers[a.name], m.chip_dynamic_pj) for m in models}
        layers.append(entry)
    cores = []
    for c in result.cores:
        entry = {k: v for k, v in dataclasses.asdict(c).items() if k != "route"}
        entry["spikes_per_inference"] = entry.pop("spikes")
        entry["synops_per_inference"] = entry.pop("synops")
        entry.update({k: v for k, v in dataclasses.asdict(c.route).items() if k != "core_id"})
        entry["energy"] = {m.model.name: _parts_dict(m.cores[c.core_id], m.chip_dynamic_pj) for m in models}
        cores.append(entry)
    return {
        "format": REPORT_FORMAT,
        "format_version": 1,
        "sources": dataclasses.asdict(sources),
        "timesteps": result.timesteps,
        "samples": result.samples,
        "routing": result.routing,
        "timestep_us": result.timestep_us,
        "time": time_dict(result, timing),
        "chips_used": result.chips_used,
        "ann_macs": result.ann_macs,
        "ann_host_macs": result.ann_host_macs,
        "host": dataclasses.asdict(result.host),
        "host_layers": [
            {**dataclasses.asdict(h), "energy_pj": {m.model.name: None if m.host_layers_pj is None
                                                    else m.host_layers_pj[h.name] for m in models}}
            for h in result.host_layers
        ],
        "assumptions": list(ASSUMPTIONS),
        "models": [
            {
                "name": m.model.name,
                "description": m.model.description,
                "leaves_out": list(m.model.leaves_out),
                "not_priced": list(m.not_priced),
                "ann_device": _device(m),
                "constants": {
                    k: {"value": q.value, "source": q.source, "grade": q.grade}
                    for k, q in m.model.quantities().items()
                    if k != "ann_device"
                },
                "totals": _totals(m, result.time),
            }
            for m in models
        ],
        "ann_baselines": _ann_baselines(result),
        "headline": _headline(result),
        "layers": layers,
        "cores": cores,
    }


def _ann_baselines(result: EnergyResult) -> list[dict]:
    """Every model with an ANN price: the 1-step ANN against the T-step SNN priced by that same model (like with
    like: one source's energies on both sides, never one model's ANN over another model's SNN)."""
    return [
        {
            "model": m.model.name,
            "device": _device(m),
            "ann_macs": result.ann_macs,
            "ann_pj": m.ann_pj,
            "ann_latency_s": m.ann_latency_s,
            "ann_edp_js": _ann_edp_js(m),
            "ann_time_grades": [] if m.model.ann_power_w is None else grades_of([m.model.ann_power_w]),
            "snn_model": m.model.name,
            "snn_pj": m.total_pj,
            "snn_latency_s": None if result.time is None else result.time.latency_s,
            "ann_over_snn": m.ann_over_snn,
        }
        for m in result.models
        if m.ann_pj is not None
    ]


def _headline(result: EnergyResult) -> dict:
    """The one answer under the default model: energy (chip dynamic + static, host), time (latency alone,
    inferences/s streamed), EDP, each with its grades; the ANN under its own device, with a ratio only when one
    model prices both."""
    chip = max(result.models, key=lambda m: _priced_chip_parts(m))  # first of those pricing the most chip parts
    # the ANN under the default model, else the first device with both an ANN energy and a time (like with like)
    with_ann = [m for m in result.models if m.ann_pj is not None]
    ann = chip if chip.ann_pj is not None else next((m for m in with_ann if m.ann_latency_s is not None),
                                                     with_ann[0] if with_ann else None)
    time = result.time
    return {
        "model": chip.model.name,
        "energy_grades": grades_of(chip.model.quantities().values()),
        "chip_dynamic_pj": chip.chip_dynamic_pj,
        "static_pj": chip.static_pj,
        "static_s": chip.static_s,
        "static_note": _static_note(chip),
        "chips_used": result.chips_used,
        "chip_pj": chip.chip_pj,
        "host_pj": chip.host_pj,
        "total_pj": chip.total_pj,
        "latency_s": None if time is None else time.latency_s,
        "latency_bound_s": None if result.time_bound is None else result.time_bound.latency_s,
        "inferences_per_s": None if time is None else time.inferences_per_s,
        "edp_js": None if time is None else chip.total_pj / PJ_PER_J * time.latency_s,
        "ann_model": None if ann is None else ann.model.name,
        "ann_device": None if ann is None else _device(ann),
        "ann_pj": None if ann is None else ann.ann_pj,
        "ann_latency_s": None if ann is None else ann.ann_latency_s,
        # a ratio only of one model's own two figures: never one cost model's ANN over another's SNN
        "ann_over_snn": None if ann is not chip or chip.total_pj <= 0 else ann.ann_pj / chip.total_pj,
    }


def _static_note(m: ModelEnergy) -> str:
    """Why static energy is not in the headline, in words: what the model's source leaves out about it, else
    what this run lacks to price it ("" when it is priced)."""
    if m.static_pj is not None:
        return ""
    said = [p for p in (*m.model.leaves_out, *m.not_priced) if p.startswith("static") and p != "static power"]
    return said[0] if said else "this cost model has no static power figure"


def _device(m: ModelEnergy) -> str:
    return "" if m.model.ann_device is None else str(m.model.ann_device.value)


def _priced_chip_parts(m: ModelEnergy) -> int:
    return -sum(1 for p in m.not_priced if not p.startswith("host"))


def format_energy(pj: float | None) -> str:
    """pJ with a readable unit, three significant digits: 812 pJ, 3.41 nJ, 1.2 µJ, 4.56 mJ, 1.91 J."""
    if pj is None:
        return "—"
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.3g} {unit}"
    return f"{pj:.3g} pJ"


def _energy_and_share(e: dict) -> str:
    return "—" if e["total_pj"] is None else f"{format_energy(e['total_pj'])} ({_share(e['share'])})"


def _share(value: float | None) -> str:
    """A share in % with 2 significant digits below 1% (0.021%), so small cores of big networks read apart."""
    if value is None:
        return "—"
    return f"{100 * value:.1f}%" if value >= 0.01 else f"{100 * value:.2g}%"


def headline_text(report: dict) -> Text:
    """The report's first lines: energy, latency, inferences/s and EDP per inference, each with its grades."""
    h, time = report["headline"], report["time"]
    text = Text()
    text.append(f"Energy per inference: {format_energy(h['total_pj'])}", style="bold")
    text.append(f" under {h['model']} (the default cost model; the others below) [{', '.join(h['energy_grades'])}]\n")
    if h["static_pj"] is None:
        static = f"static NOT priced: {h['static_note']}"
    else:
        static = (f"static {format_energy(h['static_pj'])} for {h['chips_used']} chip(s) over "
                  f"{format_time(h['static_s'])} per inference")
    text.append(f"  chip {format_energy(h['chip_pj'])} = dynamic {format_energy(h['chip_dynamic_pj'])} + {static}\n")
    text.append(f"  host {format_energy(h['host_pj'])}; total {format_energy(h['total_pj'])}\n")
    if time is None:
        text.append("  time: not modeled (the profile has no [timing]; give --timestep-us)\n")
    else:
        how = "given by --timestep-us, not modeled" if time["source"] == "--timestep-us" else ", ".join(time["grades"])
        bound = "" if time["latency_bound_s"] is None else f", ≤ {format_time(time['latency_bound_s'])} for any sample"
        text.append(f"Latency per inference: {format_time(h['latency_s'])}", style="bold")
        text.append(f" alone (T = {report['timesteps']} + {time['fill_steps']} fill steps{bound})\n")
        text.append(f"  {h['inferences_per_s']:,.0f} inferences/s streamed; EDP {h['edp_js']:.3g} J·s [{how}]\n")
        if time["assumptions"]:
            text.append(f"  time rests on assumptions: {', '.join(time['assumptions'])}\n", style="dim")
    if h["ann_pj"] is not None:
        ratio = "" if h["ann_over_snn"] is None else f", {h['ann_over_snn']:.3g}x the SNN under the same model"
        took = "" if h["ann_latency_s"] is None else f" in {format_time(h['ann_latency_s'])}"
        text.append(f"  ANN baseline {format_energy(h['ann_pj'])}{took} ({h['ann_model']}: {h['ann_device']}, 1 step{ratio})\n")
    return text


def main_model(report: dict, name: str | None = None) -> dict:
    """The model the breakdown tables use: ``name``, else the default: the first that prices the most chip parts."""
    models = report["models"]
    if name is not None:
        for m in models:
            if m["name"] == name:
                return m
        raise KeyError(name)
    return min(models, key=lambda m: sum(1 for p in m["not_priced"] if not p.startswith("host")))  # first of the best


def report_tables(report: dict, main: str | None = None) -> Group:
    """The rich renderables of the report: header, per-layer, breakdown, hottest cores, totals, models."""
    src = report["sources"]
    chosen = main_model(report, main)["name"]
    head = headline_text(report)
    head.append(
        f"  run {src['run_path']} ({src['backend']}, {src['precision']}, T={report['timesteps']}, "
        f"{report['samples']} samples)\n  bundle {src['bundle_dir']}  profile {src['profile_path']}"
        + ("" if src["profile_matches_bundle"] else " (NOT the profile the bundle was exported for)")
        + f"  routing {report['routing']}"
    )

    per_layer = Table(title=f"Per layer (share of the chip energy under {chosen})", title_justify="left")
    longest_weight = max((len(w) for layer in report["layers"] for w in layer["fed_by"]), default=0)
    per_layer.add_column("layer", no_wrap=True)  # names are never broken: a cell may wrap only between names
    per_layer.add_column("fed by", min_width=longest_weight)
    for col in ("neurons", "cores", "firing rate", "synops"):
        per_layer.add_column(col, justify="right")
    for m in report["models"]:
        per_layer.add_column(m["name"], justify="right", min_width=len(m["name"]))
    for layer in report["layers"]:
        per_layer.add_row(
            layer["name"], FED_BY_SEPARATOR.join(layer["fed_by"]), str(layer["neurons"]), str(layer["cores"]),
            f"{layer['firing_rate']:.3f}", f"{layer['synops_per_inference']:,.0f}",
            *(_energy_and_share(layer["energy"][m["name"]]) if m["name"] == chosen
              else format_energy(layer["energy"][m["name"]]["total_pj"]) for m in report["models"]),
        )

    breakdown = Table(title=f"Where it goes ({chosen})", title_justify="left")
    for col in ("layer", "synops", "neuron updates", "routing", "total", "share"):
        breakdown.add_column(col, justify="left" if col == "layer" else "right")
    for layer in report["layers"]:
        e = layer["energy"][chosen]
        breakdown.add_row(
            layer["name"], format_energy(e["synops_pj"]), format_energy(e["neuron_updates_pj"]),
            format_energy(e["routing_pj"]), format_energy(e["total_pj"]), _share(e["share"]),
        )

    hottest = Table(title=f"Hottest cores ({chosen})", title_justify="left")
    for col in ("core", "layer", "neurons", "chip/tile", "firing rate", "msgs/spike", "hops/spike", "energy", "share"):
        hottest.add_column(col, justify="left" if col == "layer" else "right")
    ranked = sorted(report["cores"], key=lambda c: -(c["energy"][chosen]["total_pj"] or 0.0))[:HOTTEST_CORES]
    for c in ranked:
        e = c["energy"][chosen]
        hottest.add_row(
            str(c["core_id"]), c["layer"], str(c["neurons"]), f"{c['chip']}/{c['tile']}", f"{c['firing_rate']:.3f}",
            f"{c['messages_per_spike']:.2f}", f"{c['hops_ew_per_spike'] + c['hops_ns_per_spike']:.2f}",
            format_energy(e["total_pj"]), _share(e["share"]),
        )

    totals = Table(title=f"Totals per inference (SNN: T={report['timesteps']} steps; ANN: 1 step, "
                   f"{report['ann_macs']:,} MACs)", title_justify="left")
    for col in ("model", "chip dynamic", "static", "static over", "host", "SNN total", "EDP (J·s)", "ANN", "ANN/SNN", "grades"):
        totals.add_column(col, justify="left" if col in ("model", "grades") else "right")
    for m in report["models"]:
        t = m["totals"]
        grades = sorted({g.strip() for c in m["constants"].values() for g in c["grade"].split(",") if g.strip()})
        totals.add_row(
            m["name"], format_energy(t["chip_dynamic_pj"]), format_energy(t["static_pj"]), format_time(t["static_s"]),
            format_energy(t["host_pj"]), format_energy(t["total_pj"]), "—" if t["edp_js"] is None else f"{t['edp_js']:.3g}",
            format_energy(t["ann_pj"]),
            "—" if t["ann_over_snn"] is None else f"{t['ann_over_snn']:.3g}x", ", ".join(grades),
        )

    host = Table(title=f"Host layers ({chosen}; ReLU and pooling do no MACs)",
                 title_justify="left")
    for col in ("layer", "runs in", "MACs", "energy", "share of host"):
        host.add_column(col, justify="left" if col in ("layer", "runs in") else "right")
    host_pj = sum(h["energy_pj"][chosen] or 0.0 for h in report["host_layers"])
    for h in report["host_layers"]:
        pj = h["energy_pj"][chosen]
        host.add_row(h["name"], f"{h['where']}.onnx", f"{h['macs']:,}", format_energy(pj),
                     _share(pj / host_pj if pj is not None and host_pj > 0 else None))

    ann = Table(
        title=f"The same network as a 1-step ANN ({report['ann_macs']:,} MACs: chip synapses "
        f"{report['ann_macs'] - report['ann_host_macs']:,} + host {report['ann_host_macs']:,})",
        title_justify="left",
    )
    for col in ("model", "device", "MACs", "ANN energy", "ANN latency", "ANN EDP (J·s)", "SNN on chip",
                "SNN latency", "ANN / SNN"):
        ann.add_column(col, justify="left" if col in ("model", "device") else "right")
    for b in report["ann_baselines"]:
        ann.add_row(
            b["model"], b["device"], f"{b['ann_macs']:,}", format_energy(b["ann_pj"]), format_time(b["ann_latency_s"]),
            "—" if b["ann_edp_js"] is None else f"{b['ann_edp_js']:.3g}",
            f"{format_energy(b['snn_pj'])} ({b['snn_model']})", format_time(b["snn_latency_s"]),
            "—" if b["ann_over_snn"] is None else f"{b['ann_over_snn']:.3g}x",
        )

    notes = Text()
    for m in report["models"]:
        notes.append(f"{m['name']}: ", style="bold")
        notes.append(m["description"] + "\n")
        if m["not_priced"]:
            notes.append(f"  not priced here: {'; '.join(m['not_priced'])}\n")
        if m["leaves_out"]:
            notes.append(f"  leaves out: {'; '.join(m['leaves_out'])}\n")
    for line in report["assumptions"]:
        notes.append(f"* {line}\n", style="dim")
    return Group(head, per_layer, breakdown, hottest, *([host] if report["host_layers"] else []), totals,
                 *time_tables(report), ann, notes)


def report_text(report: dict, width: int = 180, main: str | None = None) -> str:
    """The tables as plain text (for -o FILE)."""
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(report_tables(report, main))
    return console.file.getvalue()
