"""What run.json's per-step recording costs the built-in simulator: the batched StepRecorder against the per-sample
loop it replaced, and against no recording at all.

    PYTHONPATH=. .venv/bin/python benchmarks/step_recording.py [--samples 512] [--batch 256] [--repeats 3]
        [--threads 1] [--out docs/benchmarks/step-recording.md]

Bundles: random-weight checkpoints exported by the real chain (tests/conftest.py's export_digits_bundle): the
digits net (digits_cnn width 32, T = 4, Loihi 2, graded input) on the digits test images, and mnist_cnn width 16
(T = 4, Loihi 1, current mode: 25 cores, as in docs/chip-time.md) on the embedded mnist5k test images.

Each network is timed three ways inside one loop, in rotating order so that the shared machine's drift (2× and
more, from the other jobs) falls on all three alike: ``run_bundle`` fast/fixed on ``--samples`` samples with the
batched recorder (``new``), with the per-sample reference (``old``: tests/runtime/per_sample_recorder.py, enof at
4a2eed5) and with a recorder that records nothing (``none``: the simulator alone). The recorder's own time is also
measured alone: ``add_step`` over the same captured spikes of one batch (T steps), old and new, alternating.
Ratios are medians of the per-repeat ratios (each pair ran back to back). The per-step counts of the old and new
runs are compared bit for bit.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import enof  # noqa: F401  (lava import fix)
import enof.runtime.run as run_module
from enof.formats.run_result import STEP_FIELDS
from enof.runtime.bundle import open_bundle
from enof.runtime.fast import simulate
from enof.runtime.host import run_host_in
from enof.runtime.inputs import load_test_split
from enof.runtime.step_activity import StepRecorder

REPO = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    """A module of the test suite by its file (``tests`` is no package, and another ``tests`` may be installed)."""
    spec = importlib.util.spec_from_file_location(name, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PerSampleRecorder = _load(Path("tests/runtime/per_sample_recorder.py"), "per_sample_recorder").PerSampleRecorder
export_digits_bundle = _load(Path("tests/conftest.py"), "enof_tests_conftest").export_digits_bundle


class NoRecording(StepRecorder):
    """Records nothing: the run's time without the recorder's."""

    def add_step(self, t, spikes, input_events) -> None:
        pass


RECORDERS = {"new": StepRecorder, "old": PerSampleRecorder, "none": NoRecording}
NETWORKS = [  # (label, export_digits_bundle kwargs, data set)
    ("digits_cnn w=32, Loihi 2 (graded input)", dict(target="loihi2", timesteps=4, width=32), "digits"),
    ("mnist_cnn w=16, Loihi 1 (current mode)", dict(target="loihi", timesteps=4, width=16, arch="mnist_cnn",
                                                    dataset="mnist5k"), "mnist5k"),
]  # fmt: skip


def machine_load() -> str:
    """Load average and the other processes busy on the CPU over the last half second (``top``'s second sample)."""
    sample = subprocess.run(["top", "-b", "-n", "2", "-d", "0.5", "-o", "%CPU"], capture_output=True, text=True).stdout
    table = sample.split("\ntop - ")[-1].splitlines()
    header = next((i for i, line in enumerate(table) if line.split()[:1] == ["PID"]), len(table))
    busy = [line.split() for line in table[header + 1 :] if len(line.split()) >= 12]
    named = [f"{row[11]} {float(row[8]):.0f}%" for row in busy if int(row[0]) != os.getpid() and float(row[8]) >= 10]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"load average {load}; other processes at ≥ 10% CPU: {', '.join(named[:6]) or 'none'}"


def time_runs(bundle, x: np.ndarray, batch: int, repeats: int) -> dict:
    """Wall seconds of run_bundle per recorder and repeat (rotating order), and whether old and new per_step agree."""
    seconds = {name: [] for name in RECORDERS}
    results = {}
    names = list(RECORDERS)
    for repeat in range(repeats + 1):  # repeat 0 warms up (imports, ONNX sessions, torch's first calls)
        for name in names[repeat % 3:] + names[: repeat % 3]:
            run_module.StepRecorder = RECORDERS[name]
            try:
                start = time.perf_counter()
                results[name] = run_module.run_bundle(bundle, x, None, batch_size=batch, progress=False)
                if repeat:
                    seconds[name].append(time.perf_counter() - start)
            finally:
                run_module.StepRecorder = StepRecorder
    return {"seconds": seconds, "equal": results["new"].per_step == results["old"].per_step}


def time_add_step(bundle, x: np.ndarray, repeats: int) -> dict:
    """Seconds of add_step alone over one batch's T captured steps, old and new alternating; counts compared."""
    program, cores = bundle.program, bundle.placement.cores
    captured = []
    chip_in = bundle.host_session("host_in.onnx") if program.input_mode == "current" else None
    simulate(program, run_host_in(chip_in, x) if chip_in is not None else x, "fixed",
             on_step=lambda t, spikes, events: captured.append((t, {n: s.copy() for n, s in spikes.items()}, events.copy())))
    seconds, recorders = {"new": [], "old": []}, {}
    for repeat in range(repeats):
        for name in ("new", "old") if repeat % 2 == 0 else ("old", "new"):
            recorder = RECORDERS[name](program, cores)
            start = time.perf_counter()
            for step in captured:
                recorder.add_step(*step)
            seconds[name].append(time.perf_counter() - start)
            recorders[name] = recorder
    new, old = recorders["new"], recorders["old"]
    equal = all(np.array_equal(new.sums[f], old.sums[f]) and np.array_equal(new.maxima[f], old.maxima[f]) for f in STEP_FIELDS)
    return {"seconds": seconds, "equal": equal}


def median_ratio(top: list[float], bottom: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(top, bottom))


def bench(label: str, kwargs: dict, dataset: str, args, workdir: Path) -> dict:
    folder = workdir / dataset
    folder.mkdir()
    bundle = open_bundle(export_digits_bundle(folder, **kwargs)[0])
    images, _ = load_test_split(dataset, None, None, bundle)
    x = images[np.arange(args.samples) % len(images)]
    before = machine_load()
    runs = time_runs(bundle, x, args.batch, args.repeats)
    alone = time_add_step(bundle, x[: args.batch], args.repeats)
    layers = ", ".join(f"{layer.neurons:,}" for layer in bundle.program.layers.values())
    return {"label": label, "cores": len(bundle.placement.cores), "layers": layers, "runs": runs, "alone": alone,
            "load": [before, machine_load()], "steps": bundle.program.timesteps}  # fmt: skip


def report(rows: list[dict], args) -> str:
    lines = [
        "# Per-step recording in the built-in simulator: batched vs per sample",
        "",
        "Produced by `benchmarks/step_recording.py` (do not edit by hand). Wall seconds, best of "
        f"{args.repeats} (lower is better); ratios are medians over the repeats of pairs run back to back.",
        f"enof-run's fast/fixed run (`run_bundle`) on {args.samples} samples in batches of {args.batch}, torch "
        f"with {args.threads} thread(s) on {platform.processor() or platform.machine()} (torch {torch.__version__}; "
        "shared 2-core machine: compare within one run).",
        "`none`: a recorder that records nothing (the simulator, host parts and bookkeeping alone); `old`: the "
        "per-sample loop (enof 03f3b80, tests/runtime/per_sample_recorder.py); `new`: StepRecorder, batched.",
        "",
        "| network | neurons per layer | cores | run: none | run: old | run: new | recording's share old → new "
        "| run old ÷ new | add_step alone, one batch: old | new | old ÷ new | per_step equal |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        s, a = r["runs"]["seconds"], r["alone"]["seconds"]
        share = lambda name: 1 - median_ratio(s["none"], s[name])  # noqa: E731  (the part of the run that is recording)
        equal = "bit for bit" if r["runs"]["equal"] and r["alone"]["equal"] else "NO"
        lines.append(
            f"| {r['label']} | {r['layers']} | {r['cores']} | {min(s['none']):.2f} | {min(s['old']):.2f} "
            f"| {min(s['new']):.2f} | {share('old'):.0%} → {share('new'):.0%} | {median_ratio(s['old'], s['new']):.2f}× "
            f"| {min(a['old']):.3f} | {min(a['new']):.4f} | {median_ratio(a['old'], a['new']):,.0f}× | {equal} |"
        )
    lines += ["", f"add_step alone: the T = {rows[0]['steps']} steps of one batch of {args.batch} captured from the "
              "simulator, recorded again by each recorder.", "",
              "What else ran (before, after each network; the load average counts this benchmark too, about 1):"]
    for r in rows:
        lines += [f"- {r['label']}: {r['load'][0]}", f"  then {r['load'][1]}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "docs/benchmarks/step-recording.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(label, kwargs, dataset, args, Path(tmp)) for label, kwargs, dataset in NETWORKS]
    text = report(rows, args)
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
