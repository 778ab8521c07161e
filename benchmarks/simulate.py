"""Samples/s of the built-in fixed-point simulator vs Lava fixed_pt (pipelined) vs the float PyTorch SNN.

    .venv/bin/python benchmarks/simulate.py [--threads 1] [--out docs/simulate-benchmark.md] [--skip-lava]
        [--test-set-samples 10000] [--test-set-cpu-samples N]

With a CUDA GPU, the built-in simulator's rows gain CUDA columns (fixed point checked bit for bit against the
CPU). The whole-test-set row: ResNet19 at CIFAR shape, T = 4, fixed point, on ``--test-set-samples`` samples
(10,000: a CIFAR-10 test set), wall time on the CPU sharded over 2 processes of 1 thread each (as
``torchrun --nproc_per_node 2 -m enof.cli.run`` splits them) and on CUDA; with fewer samples the table says
so and extrapolates linearly to 10,000 (each sample costs the same: fixed shapes, no early exit).

Programs are built in memory with the exporter's own passes (capture → partition → calibrate →
quantize → chip.nir/quant.npz → ``program_from_bundle``) from random-weight models of the real
architectures: the digits net (digits_cnn, width 32, RepAct, T = 4) on the digits test images, and
ResNet20 (CIFAR shape 3×32×32, RepAct, T = 4) on random images. Target: Loihi 2 (graded input).
Built-in and PyTorch run at the same thread count; Lava runs its own processes (one per layer).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import enof  # noqa: F401  (lava import fix)
from enof.datasets.spec import DatasetSpec
from enof.exporter.calibrate import chip_peaks, graded_input_scale
from enof.exporter.graph import capture
from enof.exporter.partition import partition
from enof.exporter.quantize import FixedPointLimits, quantize
from enof.exporter.to_nir import chip_graph, write_chip_nir
from enof.hardware_profiles import load_profile
from enof.runtime.fast import simulate
from enof.runtime.chip_nir import program_from_bundle
from enof.runtime.program import ChipProgram
from enof.trainer.models import build_model, repeat_over_time
from enof.trainer.neurons import NeuronConfig
from simulate_whole_set import FULL_TEST_SET, whole_set_lines, whole_set_row

T = 4


@dataclass
class Case:
    name: str
    arch: str
    arch_kwargs: dict
    input_shape: tuple[int, int, int]
    dataset: DatasetSpec
    batch: int  # built-in / PyTorch batch
    samples: int  # built-in / PyTorch samples timed
    lava_samples: int
    lava_timeout_s: float = 600.0


def inputs_for(case: Case, count: int) -> torch.Tensor:
    if case.dataset.name == "digits":
        from enof.datasets import load_dataset

        test = load_dataset("digits", train_augment=False).test
        return torch.stack([test[i % len(test)][0].float() for i in range(count)])
    return torch.randn(count, *case.input_shape, generator=torch.Generator().manual_seed(0))


def build(case: Case) -> tuple[torch.nn.Module, ChipProgram]:
    """A random-weight model and its chip program, through the exporter's passes and the bundle reader."""
    torch.manual_seed(0)
    model = build_model(case.arch, repact=True, timesteps=T, neuron=NeuronConfig(), **case.arch_kwargs).eval()
    profile = load_profile("loihi2")
    graph = capture(model, case.input_shape, T)
    part = partition(graph, graded_spikes=True)
    peaks = chip_peaks(graph, part, repeat_over_time(inputs_for(case, 32), T))
    quant = quantize(graph, part, FixedPointLimits.from_profile(profile), graded_input_scale(case.dataset, peaks), peaks)
    with tempfile.TemporaryDirectory() as tmp:
        write_chip_nir(chip_graph(graph, part), Path(tmp) / "chip.nir")
        np.savez(Path(tmp) / "quant.npz", **quant.arrays())
        program = program_from_bundle(
            Path(tmp) / "chip.nir", Path(tmp) / "quant.npz", T, int(profile.target.graded_spike_bits.value)
        )
    return model, program


def rate(fn, samples: int, batch: int, repeats: int = 3) -> float:
    """Best-of-``repeats`` samples/s of ``fn(first, count)`` over ``samples`` samples in batches."""
    fn(0, min(batch, samples))  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for first in range(0, samples, batch):
            fn(first, min(batch, samples - first))
        best = min(best, time.perf_counter() - start)
    return samples / best


def bench(case: Case, skip_lava: bool) -> dict:
    model, program = build(case)
    x = inputs_for(case, case.samples)
    x_np = x.numpy()
    fixed = rate(lambda f, n: simulate(program, x_np[f : f + n], "fixed"), case.samples, case.batch)
    flt = rate(lambda f, n: simulate(program, x_np[f : f + n], "float"), case.samples, case.batch)
    cuda = {}
    if torch.cuda.is_available():
        for precision in ("fixed", "float"):
            cuda[precision] = rate(lambda f, n: simulate(program, x_np[f : f + n], precision, device="cuda"),
                                   case.samples, case.batch)  # fmt: skip
        cpu_run = simulate(program, x_np[: case.batch], "fixed")
        gpu_run = simulate(program, x_np[: case.batch], "fixed", device="cuda")
        cuda["exact"] = all(np.array_equal(cpu_run.spike_counts[n], gpu_run.spike_counts[n]) for n in program.layers)

    def torch_forward(f, n):
        with torch.no_grad():
            model(repeat_over_time(x[f : f + n], T))

    forward = rate(torch_forward, case.samples, case.batch)
    row = {"case": case.name, "program": program, "fixed": fixed, "float": flt, "torch": forward, "lava": None,
           "lava_samples": case.lava_samples, "cuda": cuda}  # fmt: skip
    if not skip_lava:
        from enof.errors import RunError
        from enof.runtime.lava.backend import run_lava_timed

        try:
            run, timings = run_lava_timed(program, x_np[: case.lava_samples], "fixed", timeout_s=case.lava_timeout_s)
        except RunError as exc:  # a timeout still bounds Lava's speed: fewer than n samples in timeout_s
            row["lava_error"] = str(exc)
            row["lava_bound"] = case.lava_samples / case.lava_timeout_s
            return row
        ours = simulate(program, x_np[: case.lava_samples], "fixed")
        row["lava_exact"] = all(np.array_equal(run.outputs[n], ours.outputs[n]) for n in program.outputs)
        row["lava"] = case.lava_samples / timings.run_s
        row["lava_total"] = case.lava_samples / (timings.compile_s + timings.start_s + timings.run_s + timings.readback_s)
        row["lava_ms_per_step"] = timings.ms_per_step
    return row


def describe(program: ChipProgram) -> str:
    neurons = sum(layer.neurons for layer in program.layers.values())
    return f"{len(program.layers)} LIF layers, {neurons:,} neurons, {len(program.synapses)} synapse groups"


def report(rows: list[dict], threads: int) -> str:
    lines = [
        "# Built-in simulator speed",
        "",
        "Produced by `benchmarks/simulate.py` (do not edit by hand). Samples per second, higher is better;",
        f"T = {T}; built-in and PyTorch with torch.set_num_threads({threads}) on {platform.processor() or platform.machine()}"
        f" ({torch.get_num_threads()} thread(s), torch {torch.__version__}, shared 2-core machine: the load of other jobs moves these figures by up to 3×, so compare within one run).",
        "Lava: lava-nc 0.10.0 `Loihi2SimCfg(select_tag=\"fixed_pt\")`, all samples pipelined in one run",
        "(one process per layer); `run` counts only `run()`, `total` adds compile, start and read-back.",
        "PyTorch: the trainer's float EnofNet forward (Norse LIF), which also runs the host part.",
        "",
        "| network | chip program | built-in fixed | built-in float | PyTorch float forward | Lava fixed_pt run (total) | built-in ÷ Lava (speed) | built-in ÷ PyTorch (time) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lava = f"{r['lava']:.3g} ({r['lava_total']:.3g})" if r["lava"] else "not run"
        over_lava = f"{r['fixed'] / r['lava']:,.0f}×" if r["lava"] else "–"
        if r.get("lava_error"):
            lava = f"< {r['lava_bound']:.3g} (timed out)"
            over_lava = f"> {r['fixed'] / r['lava_bound']:,.0f}×"
        lines.append(
            f"| {r['case']} | {describe(r['program'])} | {r['fixed']:,.0f} | {r['float']:,.0f} | {r['torch']:,.0f} "
            f"| {lava} | {over_lava} | {r['torch'] / r['fixed']:.2f}× |"
        )
    lines += ["", "Targets: built-in ≥ 1000× Lava on the digits net; built-in no slower than 2× the PyTorch forward.", ""]
    if any(r["cuda"] for r in rows):
        lines += [f"On CUDA ({torch.cuda.get_device_name(0)}), same batches:", "",
                  "| network | built-in fixed | built-in float | fixed point equals the CPU |", "|---|---:|---:|---|"]
        for r in rows:
            c = r["cuda"]
            lines.append(f"| {r['case']} | {c['fixed']:,.0f} | {c['float']:,.0f} | {'bit for bit' if c['exact'] else 'NO'} |")
    else:
        lines += ["CUDA columns: not run (torch sees no CUDA GPU on this machine; benchmarks/gpu_check.sh runs them)."]
    lines.append("")
    for r in rows:
        if r.get("lava_error"):
            lines.append(f"- {r['case']}: Lava on {r['lava_samples']} sample(s): {r['lava_error']}: "
                         f"Lava manages fewer than {r['lava_bound']:.3g} samples/s, a lower bound on the ratio.")
        if r["lava"]:
            lines.append(
                f"- {r['case']}: Lava {r['lava_ms_per_step']:.1f} ms per Lava step; its output spikes "
                f"{'equal' if r['lava_exact'] else 'DIFFER FROM'} the built-in simulator's, bit for bit."
            )
    return "\n".join(lines) + "\n"


CASES = [
    Case("digits net (digits_cnn w=32)", "digits_cnn", {"num_classes": 10, "width": 32}, (1, 8, 8),
         DatasetSpec("digits", (1, 8, 8), 10, (0.0,), (16.0,)), 256, 2048, 64),
    Case("ResNet20, CIFAR shape", "resnet20", {"num_classes": 10}, (3, 32, 32),
         DatasetSpec("random", (3, 32, 32), 10, (0.0,) * 3, (1.0,) * 3), 16, 64, 1, 540.0),
]  # fmt: skip


TEST_SET_CASE = Case("ResNet19, CIFAR shape", "resnet19", {"num_classes": 10}, (3, 32, 32),
                     DatasetSpec("random", (3, 32, 32), 10, (0.0,) * 3, (1.0,) * 3), 16, 0, 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/simulate-benchmark.md"))
    parser.add_argument("--skip-lava", action="store_true")
    parser.add_argument("--only", choices=["digits", "resnet"], default=None)
    parser.add_argument("--test-set-samples", type=int, default=FULL_TEST_SET,
                        help="samples of the whole-test-set row on CUDA (0: skip the row); fewer are extrapolated")
    parser.add_argument("--test-set-cpu-samples", type=int, default=None,
                        help="samples of that row on the CPU (default: the same); fewer are extrapolated")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = [c for c in CASES if args.only is None or c.arch.startswith(args.only[:5])]
    rows = [bench(case, args.skip_lava) for case in cases]
    text = report(rows, args.threads)
    if args.test_set_samples:
        _, program = build(TEST_SET_CASE)
        cpu_samples = min(args.test_set_cpu_samples or args.test_set_samples, args.test_set_samples)
        row = whole_set_row(TEST_SET_CASE.name, program, args.test_set_samples, cpu_samples)
        text += "\n" + "\n".join(whole_set_lines(row)) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
