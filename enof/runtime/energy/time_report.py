"""The chip's time in the report: the "where the time goes" tables (report_json writes its JSON block)."""

from __future__ import annotations

from rich.table import Table

from enof.runtime.energy.report_model import Report
from enof.runtime.energy.timing import NS_PER_S, PHASES

PACING_ROWS = 12  # wall steps shown in the pacing table (a long T is summarized by its slowest steps)


def format_time(seconds: float | None) -> str:
    """Seconds with a readable unit, three significant digits: 812 ns, 3.41 µs, 1.2 ms, 4.56 s."""
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * NS_PER_S:.3g} ns"


def time_tables(report: Report) -> list[Table]:
    """"Where the time goes" (per inference, streamed and alone, by phase) and the wall steps with their pacing core."""
    time = report.time
    if time is None:
        return []
    phases = Table(title=f"Where the time goes (per inference; {report.time_source})", title_justify="left")
    for col in ("phase", "streamed", "share", "one sample alone", "share "):
        phases.add_column(col, justify="left" if col == "phase" else "right")
    stream_total, alone_total = time.period_s, time.latency_s
    by_stream, by_alone = time.time_by_phase_s("stream"), time.time_by_phase_s("alone")
    labels = {"neuron": "neuron phase (updates, spikes, messages out)", "message": "message phase (messages in, synaptic events)",
              "mesh": "mesh (longest route)", "barrier": "barrier (end of step)", "io": "host I/O (I/O-bound steps)"}
    for phase in PHASES:
        s, a = by_stream[phase], by_alone[phase]
        phases.add_row(labels[phase], format_time(s), _pct(s, stream_total), format_time(a), _pct(a, alone_total))
    phases.add_row("total", format_time(stream_total), "", format_time(alone_total), "")

    steps = Table(title="Wall steps of one sample alone: what paces each (slowest core and its phase)", title_justify="left")
    for col in ("step", "time", "compute", "mesh", "barrier", "I/O", "pacing layer", "core", "phase"):
        steps.add_column(col, justify="left" if col in ("pacing layer", "phase") else "right")
    alone = list(enumerate(time.alone))
    shown = sorted(sorted(alone, key=lambda ks: -ks[1].step_s)[:PACING_ROWS], key=lambda ks: ks[0])
    for k, s in shown:
        steps.add_row(str(k), format_time(s.step_s), format_time(s.compute_s), format_time(s.mesh_s),
                      format_time(s.barrier_s), format_time(s.io_s) + (" (bound)" if s.io_bound else ""),
                      report.shown(s.pacing_layer) if s.pacing_layer else "—",
                      "—" if s.pacing_core is None else str(s.pacing_core), str(s.pacing_phase or "—"))  # fmt: skip
    return [phases, steps]


def _pct(part: float, whole: float) -> str:
    return "—" if whole <= 0 else f"{100 * part / whole:.1f}%"
