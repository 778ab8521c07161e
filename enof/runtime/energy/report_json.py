"""The last step of the energy report: the typed Report as the dict that ``enof-energy --format json`` and
``EnergyReport.to_dict()`` write. Layers keep enof's names here (stable keys; the tables show the user's)."""

from __future__ import annotations

import dataclasses

from enof.runtime.energy.report_model import ASSUMPTIONS, Report
from enof.runtime.energy.result import ModelEnergy, Parts
from enof.runtime.energy.timing import StepTime

REPORT_FORMAT = "enof-energy"


def report_dict(report: Report) -> dict:
    """Every number of the report, energies in pJ per inference."""
    result, models = report.result, report.models
    layers = []
    for a in result.layers:
        entry = dataclasses.asdict(a)
        entry["fed_by"] = list(a.fed_by)
        entry["spikes_per_inference"] = entry.pop("spikes")
        entry["synops_per_inference"] = entry.pop("synops")
        entry["energy"] = {m.model.name: _parts_dict(m, m.layers[a.name]) for m in models}
        layers.append(entry)
    cores = []
    for c in result.cores:
        entry = {k: v for k, v in dataclasses.asdict(c).items() if k != "route"}
        entry["spikes_per_inference"] = entry.pop("spikes")
        entry["synops_per_inference"] = entry.pop("synops")
        entry.update({k: v for k, v in dataclasses.asdict(c.route).items() if k != "core_id"})
        entry["energy"] = {m.model.name: _parts_dict(m, m.cores[c.core_id]) for m in models}
        cores.append(entry)
    return {
        "format": REPORT_FORMAT,
        "format_version": 1,
        "sources": dataclasses.asdict(report.sources),
        "timesteps": result.timesteps,
        "samples": result.samples,
        "routing": result.routing,
        "timestep_us": result.timestep_us,
        "time": time_dict(report),
        "chips_used": result.chips_used,
        "ann_macs": result.ann_macs,
        "ann_host_macs": result.ann_host_macs,
        "host": dataclasses.asdict(result.host),
        "host_layers": [{**dataclasses.asdict(h), "energy_pj": {m.model.name: m.host_layer_pj(h.name) for m in models}}
                        for h in result.host_layers],
        "assumptions": list(ASSUMPTIONS),
        "models": [_model_dict(report, m) for m in models],
        "ann_baselines": [_ann_baseline_dict(report, m) for m in report.ann_baselines],
        "headline": {**dataclasses.asdict(report.headline), "energy_grades": list(report.headline.energy_grades)},
        "layers": layers,
        "cores": cores,
    }


def _parts_dict(m: ModelEnergy, parts: Parts) -> dict:
    return {"synops_pj": parts.synops_pj, "neuron_updates_pj": parts.neuron_updates_pj, "routing_pj": parts.routing_pj,
            "total_pj": parts.priced_total_pj, "share": m.share_of_chip(parts)}  # fmt: skip


def _model_dict(report: Report, m: ModelEnergy) -> dict:
    return {
        "name": m.model.name,
        "description": m.model.description,
        "leaves_out": list(m.model.leaves_out),
        "not_priced": list(m.not_priced),
        "ann_device": m.ann_device,
        "constants": {k: {"value": q.value, "source": q.source, "grade": q.grade} for k, q in m.constants.items()},
        "totals": {
            "chip_dynamic_pj": m.priced_chip_dynamic_pj, "static_pj": m.static_pj, "static_s": m.static_s,
            "edp_js": report.edp_js(m), "chip_pj": m.chip_pj, "host_compute_pj": m.host_compute_pj,
            "host_io_pj": m.host_io_pj, "host_pj": m.priced_host_pj, "total_pj": m.total_pj, "ann_pj": m.ann_pj,
            "ann_latency_s": m.ann_latency_s, "ann_edp_js": m.ann_edp_js, "ann_over_snn": m.ann_over_snn,
        },  # fmt: skip
    }


def _ann_baseline_dict(report: Report, m: ModelEnergy) -> dict:
    time = report.time
    return {
        "model": m.model.name, "device": m.ann_device, "ann_macs": report.result.ann_macs, "ann_pj": m.ann_pj,
        "ann_latency_s": m.ann_latency_s, "ann_edp_js": m.ann_edp_js, "ann_time_grades": m.ann_time_grades,
        "snn_model": m.model.name, "snn_pj": m.total_pj, "snn_latency_s": None if time is None else time.latency_s,
        "ann_over_snn": m.ann_over_snn,
    }  # fmt: skip


def step_dict(step: StepTime, schedule: str, k: int) -> dict:
    """One wall step, times in s (the JSON's and the CSV's step rows)."""
    return {
        "schedule": schedule, "step": k, "step_s": step.step_s, "compute_s": step.compute_s, "mesh_s": step.mesh_s,
        "barrier_s": step.barrier_s, "io_s": step.io_s, "io_bound": step.io_bound, "pacing_core": step.pacing_core, "pacing_layer": step.pacing_layer,
        "pacing_phase": step.pacing_phase,
    }  # fmt: skip


def time_dict(report: Report) -> dict | None:
    """Every figure of the chip-time model: latency alone, period and inferences/s streamed, the bound from
    per-sample maxima, where the time goes, each wall step, and the constants with their grades."""
    time, bound = report.time, report.latency_bound
    if time is None:
        return None
    return {
        "source": report.time_source,
        "timestep_us": time.given_step_us,
        "latency_s": time.latency_s,
        "latency_bound_s": None if bound is None else bound.latency_s,
        "period_s": time.period_s,
        "inferences_per_s": time.inferences_per_s,
        "inferences_per_s_bound": None if bound is None else bound.inferences_per_s,
        "fill_steps": time.fill_steps,
        "counts": "mean over samples (typical; the bound takes each core's per-sample maximum)",
        "by_phase_s": time.time_by_phase_s("stream"),
        "by_phase_alone_s": time.time_by_phase_s("alone"),
        "grades": report.time_grades,
        "assumptions": report.time_assumptions,
        "constants": {name: dataclasses.asdict(q) for name, q in report.time_constants.items()},
        "steps": [step_dict(step, schedule, k) for schedule, k, step in report.wall_steps()],
    }
