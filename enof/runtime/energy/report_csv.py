"""enof-energy --format csv: the typed Report as one row per (model, layer), (model, core), model total and wall
step. Layers keep enof's names (stable keys, as in the JSON)."""

from __future__ import annotations

import csv
import io

from enof.runtime.energy.report import FED_BY_SEPARATOR
from enof.runtime.energy.report_model import Report
from enof.runtime.energy.result import ModelEnergy, Parts

CSV_COLUMNS = (
    "row", "model", "name", "layer", "fed_by", "neurons", "cores", "firing_rate", "spikes_per_inference",
    "synops_per_inference", "synops_pj", "neuron_updates_pj", "routing_pj", "total_pj", "share",
    "static_pj", "static_s", "host_pj", "ann_pj", "ann_latency_s", "ann_edp_js", "ann_over_snn", "latency_s", "inferences_per_s", "edp_js",
    "step", "step_s", "compute_s", "mesh_s", "barrier_s", "io_s", "pacing_phase",
)


def _energy(m: ModelEnergy, parts: Parts) -> dict:
    return {"synops_pj": parts.synops_pj, "neuron_updates_pj": parts.neuron_updates_pj, "routing_pj": parts.routing_pj,
            "total_pj": parts.priced_total_pj, "share": m.share_of_chip(parts)}  # fmt: skip


def report_csv(report: Report) -> str:
    """One row per (model, layer), (model, core) and model total; energies in pJ per inference."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    result, time = report.result, report.time
    for m in report.models:
        name = m.model.name
        for a in result.layers:
            writer.writerow({"row": "layer", "model": name, "name": a.name, "layer": a.name,
                             "fed_by": FED_BY_SEPARATOR.join(a.fed_by), "neurons": a.neurons, "cores": a.cores,
                             "firing_rate": a.firing_rate, "spikes_per_inference": a.spikes,
                             "synops_per_inference": a.synops, **_energy(m, m.layers[a.name])})  # fmt: skip
        for c in result.cores:
            writer.writerow({"row": "core", "model": name, "name": c.core_id, "layer": c.layer, "neurons": c.neurons,
                             "firing_rate": c.firing_rate, "spikes_per_inference": c.spikes,
                             "synops_per_inference": c.synops, **_energy(m, m.cores[c.core_id])})  # fmt: skip
        writer.writerow({"row": "total", "model": name, "name": "chip+host", "total_pj": m.total_pj,
                         "static_pj": m.static_pj, "static_s": m.static_s, "host_pj": m.priced_host_pj,
                         "ann_pj": m.ann_pj, "ann_latency_s": m.ann_latency_s, "ann_edp_js": m.ann_edp_js,
                         "ann_over_snn": m.ann_over_snn, "latency_s": None if time is None else time.latency_s,
                         "inferences_per_s": None if time is None else time.inferences_per_s,
                         "edp_js": report.edp_js(m)})  # fmt: skip
    for schedule, k, s in report.wall_steps():
        writer.writerow({"row": f"step-{schedule}", "model": "", "name": s.pacing_core, "layer": s.pacing_layer,
                         "step": k, "step_s": s.step_s, "compute_s": s.compute_s, "mesh_s": s.mesh_s,
                         "barrier_s": s.barrier_s, "io_s": s.io_s, "pacing_phase": s.pacing_phase})  # fmt: skip
    return buf.getvalue()
