"""The whole-test-set row of benchmarks/simulate.py: one chip program on N samples, fixed point, wall time on the
CPU sharded over processes (contiguous shards, as enof-run splits them under torchrun) and on CUDA.

Only the chip's simulation is timed (host_in/host_out are a few hundred MACs per sample next to the chip's
millions); the CUDA run's spike totals are checked against the CPU's, bit for bit.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from enof.runtime.distributed import Shard
from enof.runtime.fast import simulate
from enof.runtime.fast.device import auto_batch_size
from enof.runtime.program import ChipProgram

FULL_TEST_SET = 10_000  # a CIFAR-10 test split
CPU_BATCH = 16  # samples per simulate() call on the CPU: the ResNet20 row's batch


def _images(samples: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((samples, *shape), dtype=np.float32)


def _run_shard(program: ChipProgram, samples: int, rank: int, world: int, batch: int, device: str) -> dict:
    """Spike totals of this rank's contiguous shard of the ``samples`` seeded images (one thread on the CPU)."""
    torch.set_num_threads(1)
    first, end = Shard(rank, world, launched=True).bounds(samples)
    x = _images(samples, program.sample_shape)
    totals = {name: np.zeros(layer.shape, np.int64) for name, layer in program.layers.items()}
    for at in range(first, end, batch):
        run = simulate(program, x[at : min(at + batch, end)], "fixed", device=device)
        for name in totals:
            totals[name] += run.spike_counts[name]
    return totals


def _sum(parts: list[dict]) -> dict:
    return {name: sum(part[name] for part in parts) for name in parts[0]}


def whole_set_row(name: str, program: ChipProgram, samples: int, cpu_samples: int, processes: int = 2) -> dict:
    """Wall seconds: the CPU on ``cpu_samples`` (≤ ``samples``) over ``processes`` spawned processes, and CUDA,
    when present, on ``samples``, checked against the CPU's totals on the CPU's samples."""
    context = multiprocessing.get_context("spawn")
    start = time.perf_counter()
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        parts = list(pool.map(_run_shard, *zip(*[(program, cpu_samples, r, processes, CPU_BATCH, "cpu")
                                                 for r in range(processes)])))  # fmt: skip
    cpu_s = time.perf_counter() - start
    row = {"case": name, "samples": samples, "cpu_samples": cpu_samples, "processes": processes, "cpu_s": cpu_s,
           "cuda_s": None}  # fmt: skip
    if torch.cuda.is_available():
        device = torch.device("cuda")
        batch = auto_batch_size(program, device, samples)
        gpu = _run_shard(program, cpu_samples, 0, 1, batch, "cuda")  # also the warm-up: CUDA context, kernels
        exact = all(np.array_equal(gpu[n], _sum(parts)[n]) for n in gpu)
        torch.cuda.synchronize()
        start = time.perf_counter()
        _run_shard(program, samples, 0, 1, batch, "cuda")
        row.update(cuda_s=time.perf_counter() - start, cuda_batch=batch, gpu=torch.cuda.get_device_name(0), exact=exact)
    return row


def whole_set_lines(row: dict) -> list[str]:
    """The row as markdown, extrapolated linearly to 10,000 samples where fewer were run (and saying so)."""

    def ran(samples: int) -> str:
        scale = FULL_TEST_SET / samples
        return "" if scale == 1 else f" (ran {samples:,}, ×{scale:g} extrapolated)"

    lines = [
        f"Whole test set: {row['case']}, T = 4, fixed point, {FULL_TEST_SET:,} samples (random images).", "",
        "| where | wall time for 10,000 samples | samples/s | exact |", "|---|---:|---:|---|",
        f"| CPU, {row['processes']} processes × 1 thread (contiguous shards; includes process start) "
        f"| {row['cpu_s'] * FULL_TEST_SET / row['cpu_samples']:,.0f} s{ran(row['cpu_samples'])} "
        f"| {row['cpu_samples'] / row['cpu_s']:,.1f} | reference |",
    ]  # fmt: skip
    if row["cuda_s"] is None:
        lines.append("| CUDA | not run: torch sees no CUDA GPU here (benchmarks/gpu_check.sh runs it) | – | – |")
    else:
        exact = (f"bit for bit (spike totals on the CPU's {row['cpu_samples']:,} samples)" if row["exact"]
                 else "DIFFERS FROM THE CPU")  # fmt: skip
        lines.append(f"| CUDA, {row['gpu']}, batch {row['cuda_batch']} "
                     f"| {row['cuda_s'] * FULL_TEST_SET / row['samples']:,.1f} s{ran(row['samples'])} "
                     f"| {row['samples'] / row['cuda_s']:,.0f} | {exact} |")
    lines += ["", "Target on one H200: ≤ 60 s for the 10,000 samples, bit-exact."]
    return lines
