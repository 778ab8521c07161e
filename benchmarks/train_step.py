"""Time per training step: plain SNN (CE) vs EnOF (CE + λ·L_AF, i.e. an extra frozen-teacher forward).

Usage: .venv/bin/python benchmarks/train_step.py [--steps 20] [--threads 2] [--markdown docs/train-step-benchmark.md]
Prints a table: median seconds per step (forward, loss, backward, SGD update) of each variant and
their ratio; the EnOF target is ≤ 1.3× the plain step. CPU only (as the rest of enof's training).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from enof.trainer.losses import DistillConfig, enof_loss
from enof.trainer.models import build_model, repeat_over_time

CASES = [  # (arch, input (C, H, W), batch, T)
    ("digits_cnn", (1, 8, 8), 16, 2),
    ("digits_cnn", (1, 8, 8), 16, 4),
    ("resnet20", (3, 32, 32), 16, 2),
    ("resnet20", (3, 32, 32), 16, 4),
]


def make_step(arch: str, shape: tuple[int, int, int], batch: int, timesteps: int, enof: bool):
    """A closure running one optimizer step (forward, loss, backward, SGD update) on a fixed batch."""
    torch.manual_seed(0)
    student = build_model(arch, mode="snn", repact=enof, timesteps=timesteps, in_channels=shape[0])
    teacher = build_model(arch, mode="ann", timesteps=1, in_channels=shape[0]).eval().requires_grad_(False)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9)
    config = DistillConfig(method="laf" if enof else "none")
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        out = student(repeat_over_time(x, timesteps))
        teacher_out = None
        if enof:
            with torch.no_grad():
                teacher_out = teacher(repeat_over_time(x, 1))
        loss = enof_loss(out, y, teacher_out, teacher.fc if enof else None, config).total
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def paired_step_seconds(arch: str, shape: tuple[int, int, int], batch: int, timesteps: int,
                        steps: int) -> tuple[float, float]:
    """Median seconds per step of plain and EnOF, timed alternately so that load from other
    processes hits both alike; one warm-up step each (allocations, lazy initialization)."""
    plain, enof = (make_step(arch, shape, batch, timesteps, e) for e in (False, True))
    plain(), enof()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(steps):
        for is_enof, step in ((False, plain), (True, enof)):
            start = time.perf_counter()
            step()
            times[is_enof].append(time.perf_counter() - start)
    return statistics.median(times[False]), statistics.median(times[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per variant (resnet20: a quarter)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table as markdown here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for arch, shape, batch, timesteps in CASES:
        steps = args.steps if arch == "digits_cnn" else max(3, args.steps // 4)
        plain, enof = paired_step_seconds(arch, shape, batch, timesteps, steps)
        rows.append((arch, "×".join(map(str, shape)), batch, timesteps, plain, enof, enof / plain))

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"training step, CPU, {args.threads} threads, median of {args.steps} steps (resnet20: {max(3, args.steps // 4)})")
    for column in ("arch", "input", "batch", "T", "plain SNN (ms)", "EnOF (ms)", "EnOF / plain"):
        table.add_column(column, justify="right")
    for arch, shape, batch, t, plain, enof, ratio in rows:
        table.add_row(arch, shape, str(batch), str(t), f"{1e3 * plain:.1f}", f"{1e3 * enof:.1f}", f"{ratio:.2f}×")
    Console().print(table)
    if args.markdown is not None:
        lines = [
            "# Training step: plain SNN vs EnOF",
            "",
            "Median wall time of one training step (forward, loss, backward, SGD update) on random data;",
            "plain = CE on the SNN; EnOF = CE + λ·L_AF, which adds a forward pass of the frozen ANN teacher",
            "(T = 1, no gradient) and the KL through its classifier. Target: EnOF ≤ 1.3× plain.",
            "",
            f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, CPU, "
            f"{args.threads} threads; median of {args.steps} steps (resnet20: {max(3, args.steps // 4)}) after one "
            "warm-up, plain and EnOF steps alternating so that load from other jobs on the shared CPU hits "
            "both alike: absolute times are noisy, the ratios much less so. The EnOF student also has RepAct "
            "(its last LIF is a ReLU), as trained by `enof-train`.",
            "",
            "| arch | input | batch | T | plain SNN (ms) | EnOF (ms) | EnOF / plain |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {a} | {s} | {b} | {t} | {1e3 * p:.1f} | {1e3 * e:.1f} | {r:.2f}× |" for a, s, b, t, p, e, r in rows]
        lines += ["", "Produced by `.venv/bin/python benchmarks/train_step.py "
                  f"--steps {args.steps} --threads {args.threads} --markdown {args.markdown}`."]
        tmp = args.markdown.with_name(f".{args.markdown.name}.tmp")
        tmp.write_text("\n".join(lines) + "\n")
        tmp.replace(args.markdown)


if __name__ == "__main__":
    main()
