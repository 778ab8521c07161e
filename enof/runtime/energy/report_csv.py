"""enof-energy --format csv: the report dict as one row per (model, layer), (model, core), model total and wall step."""

from __future__ import annotations

import csv
import io

from enof.runtime.energy.report import FED_BY_SEPARATOR

CSV_COLUMNS = (
    "row", "model", "name", "layer", "fed_by", "neurons", "cores", "firing_rate", "spikes_per_inference",
    "synops_per_inference", "synops_pj", "neuron_updates_pj", "routing_pj", "total_pj", "share",
    "static_pj", "static_s", "host_pj", "ann_pj", "ann_latency_s", "ann_edp_js", "ann_over_snn", "latency_s", "inferences_per_s", "edp_js",
    "step", "step_s", "compute_s", "mesh_s", "barrier_s", "io_s", "pacing_phase",
)


def report_csv(report: dict) -> str:
    """One row per (model, layer), (model, core) and model total; energies in pJ per inference."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for model in report["models"]:
        name = model["name"]
        for layer in report["layers"]:
            writer.writerow({"row": "layer", "model": name, "layer": layer["name"], **layer,
                             "fed_by": FED_BY_SEPARATOR.join(layer["fed_by"]), **layer["energy"][name]})
        for core in report["cores"]:
            writer.writerow(
                {"row": "core", "model": name, "name": core["core_id"], **core, **core["energy"][name]}
            )
        t = model["totals"]
        time = report["time"] or {}
        writer.writerow({"row": "total", "model": name, "name": "chip+host", **t,
                         "latency_s": time.get("latency_s"), "inferences_per_s": time.get("inferences_per_s")})
    for step in (report["time"] or {}).get("steps", []):
        writer.writerow({"row": f"step-{step['schedule']}", "model": "", "name": step["pacing_core"],
                         "layer": step["pacing_layer"], **step})
    return buf.getvalue()
