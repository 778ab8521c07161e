"""The chip's time in the report: the JSON block (units in the names) and the "where the time goes" tables."""

from __future__ import annotations

import dataclasses

from rich.table import Table

from enof.hardware_profiles import TimingSection, grades_of
from enof.runtime.energy.result import EnergyResult
from enof.runtime.energy.timing import NS_PER_S, PHASES, ChipTime, StepTime

PACING_ROWS = 12  # wall steps shown in the pacing table (a long T is summarized by its slowest steps)


def format_time(seconds: float | None) -> str:
    """Seconds with a readable unit, three significant digits: 812 ns, 3.41 µs, 1.2 ms, 4.56 s."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * NS_PER_S:.3g} ns"


def _step_dict(step: StepTime, schedule: str, k: int) -> dict:
    return {
        "schedule": schedule, "step": k, "step_s": step.step_ns / NS_PER_S, "compute_s": step.compute_ns / NS_PER_S,
        "mesh_s": step.mesh_ns / NS_PER_S, "barrier_s": step.barrier_ns / NS_PER_S, "io_s": step.io_ns / NS_PER_S,
        "io_bound": step.io_bound, "pacing_core": step.pacing_core, "pacing_layer": step.pacing_layer,
        "pacing_phase": step.pacing_phase,
    }  # fmt: skip


def time_dict(result: EnergyResult, timing: TimingSection | None) -> dict | None:
    """Every figure of the chip-time model: latency alone, period and inferences/s streamed, the bound from
    per-sample maxima, where the time goes, each wall step, and the constants with their grades."""
    time: ChipTime | None = result.time
    if time is None:
        return None
    given = time.given_step_us is not None
    quantities = {} if given or timing is None else {f.name: getattr(timing, f.name) for f in dataclasses.fields(timing)}
    bound = result.time_bound
    return {
        "source": "--timestep-us" if given else "modeled",
        "timestep_us": time.given_step_us,
        "latency_s": time.latency_s,
        "latency_bound_s": None if given or bound is None else bound.latency_s,
        "period_s": time.period_s,
        "inferences_per_s": time.inferences_per_s,
        "inferences_per_s_bound": None if given or bound is None else bound.inferences_per_s,
        "fill_steps": time.fill_steps,
        "counts": "mean over samples (typical; the bound takes each core's per-sample maximum)",
        "by_phase_s": time.time_by_phase_s("stream"),
        "by_phase_alone_s": time.time_by_phase_s("alone"),
        "grades": grades_of(quantities.values()),
        "assumptions": [name for name, q in quantities.items() if "assumption" in q.grades],
        "constants": {name: dataclasses.asdict(q) for name, q in quantities.items()},
        "steps": [_step_dict(s, "alone", k) for k, s in enumerate(time.alone)]
        + [_step_dict(s, "stream", k) for k, s in enumerate(time.stream)],
    }


def time_tables(report: dict) -> list[Table]:
    """"Where the time goes" (per inference, streamed and alone, by phase) and the wall steps with their pacing core."""
    time = report.get("time")
    if time is None:
        return []
    phases = Table(title=f"Where the time goes (per inference; {time['source']})", title_justify="left")
    for col in ("phase", "streamed", "share", "one sample alone", "share "):
        phases.add_column(col, justify="left" if col == "phase" else "right")
    stream_total, alone_total = time["period_s"], time["latency_s"]
    labels = {"neuron": "neuron phase (updates, spikes, messages out)", "message": "message phase (messages in, synaptic events)",
              "mesh": "mesh (longest route)", "barrier": "barrier (end of step)", "io": "host I/O (I/O-bound steps)"}
    for phase in PHASES:
        s, a = time["by_phase_s"][phase], time["by_phase_alone_s"][phase]
        phases.add_row(labels[phase], format_time(s), _pct(s, stream_total), format_time(a), _pct(a, alone_total))
    phases.add_row("total", format_time(stream_total), "", format_time(alone_total), "")

    steps = Table(title="Wall steps of one sample alone: what paces each (slowest core and its phase)", title_justify="left")
    for col in ("step", "time", "compute", "mesh", "barrier", "I/O", "pacing layer", "core", "phase"):
        steps.add_column(col, justify="left" if col in ("pacing layer", "phase") else "right")
    alone = [s for s in time["steps"] if s["schedule"] == "alone"]
    shown = sorted(sorted(alone, key=lambda s: -s["step_s"])[:PACING_ROWS], key=lambda s: s["step"])
    for s in shown:
        steps.add_row(str(s["step"]), format_time(s["step_s"]), format_time(s["compute_s"]), format_time(s["mesh_s"]),
                      format_time(s["barrier_s"]), format_time(s["io_s"]) + (" (bound)" if s["io_bound"] else ""),
                      str(s["pacing_layer"] or "—"), "—" if s["pacing_core"] is None else str(s["pacing_core"]),
                      str(s["pacing_phase"] or "—"))  # fmt: skip
    return [phases, steps]


def _pct(part: float, whole: float) -> str:
    return "—" if whole <= 0 else f"{100 * part / whole:.1f}%"
