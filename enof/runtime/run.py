"""``run_bundle``: an opened bundle (``enof.runtime.bundle.open_bundle``) on a data set: host_in (current mode)
→ chip (fast or Lava) → host_out.

Returns a RunResult (docs/design.md §7): predictions, accuracy, activity per layer and core, host
MACs and host↔chip bytes per inference. The runtime reads bundles only; it never imports the trainer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from rich.console import Console

from enof.errors import EnofError, RunError
from enof.formats.run_result import STEP_FIELDS, HostCost, RunResult, check_run_matches_bundle
from enof.runtime.array_files import byte_size
from enof.runtime.bundle import OpenedBundle
from enof.runtime.counts import count_activity
from enof.runtime.distributed import Shard
from enof.runtime.inputs import Normalization
from enof.runtime.host import run_host_in, run_host_out
from enof.runtime.program import ChipProgram
from enof.runtime.run_progress import RunProgress
from enof.runtime.step_activity import StepRecorder, core_steps

Backend = Literal["fast", "lava", "netx"]  # netx: chip.net.h5 in lava-dl's netx, on the Lava backend's worker
Precision = Literal["fixed", "float"]
CHIP_OUTPUT_BITS_PER_NEURON_STEP = 1  # a spike raster: one bit per output neuron per step


def check_run_against_bundle(run: RunResult, bundle: OpenedBundle, label: str) -> None:
    """run.json must describe a run of this bundle: its T, target, layers, cores and host figures."""
    program = bundle.program
    check_run_matches_bundle(
        run, label, timesteps=program.timesteps, target=bundle.manifest.target.name,
        num_classes=bundle.manifest.num_classes,
        layer_neurons={name: layer.neurons for name, layer in program.layers.items()},
        core_neurons={c.core_id: (c.layer, c.neurons) for c in bundle.placement.cores},
        host=host_cost(bundle),
    )  # fmt: skip


def run_bundle(
    bundle: OpenedBundle,
    inputs: np.ndarray,
    labels: np.ndarray | None,
    backend: Backend = "fast",
    precision: Precision = "fixed",
    batch_size: int = 256,
    timeout_s: float = 600.0,
    progress: bool = True,
    normalization: Normalization | None = None,
    shard: Shard = Shard(),
    lava_workers: int = 1,
    device: str = "cpu",
    spike_sink: dict[str, list[np.ndarray]] | None = None,
) -> RunResult | None:
    """Classify ``inputs`` with the opened bundle: (N, C, H, W) images, or (N, T, C, H, W) event frames for a
    bundle of temporal input (the manifest's dataset.temporal), as the data set's loader gives them, or raw and
    normalized here per batch by ``normalization``. ``inputs`` may be a memory map: it is read one batch at a
    time, so memory grows with ``batch_size``, not with N. ``labels`` None: no accuracy (run.json's is null).
    Under torchrun (``shard``) each rank runs its contiguous shard and rank 0 gathers every rank's predictions and
    integer totals into the whole run, identical to one process's; the other ranks return None. ``lava_workers``:
    each batch runs as that many independent Lava runs at once (each under the watchdog). ``device`` (fast backend):
    auto|cpu|cuda|cuda:N; ``batch_size`` 0 = auto (CUDA only: from free memory). ``spike_sink``: a dict that
    receives every chip layer's spike raster (T, B, *shape) per batch, in sample order (one process only).
    The options come checked (enof.run_request.RunRequest: lava_workers, netx's precision, device per backend)."""
    start = time.perf_counter()
    program, manifest = bundle.program, bundle.manifest
    labels = None if labels is None else np.asarray(labels).astype(np.int64)
    sample_shape = program.sample_shape if program.input_temporal else manifest.input_shape
    if inputs.ndim != 1 + len(sample_shape) or tuple(inputs.shape[1:]) != sample_shape:
        kind = " (T event frames per sample)" if program.input_temporal else ""
        raise RunError(f"inputs of shape {inputs.shape} do not match the bundle's (N, {', '.join(map(str, sample_shape))}){kind}")
    if len(inputs) == 0 or (labels is not None and len(labels) != len(inputs)):
        raise RunError(f"{len(inputs)} inputs but {len(labels) if labels is not None else 'no'} labels (need at least 1 input, and as many labels as inputs or none)")
    if backend not in ("fast", "lava", "netx"):
        raise RunError(f"unknown backend {backend!r} (fast|lava|netx)")
    if spike_sink is not None and shard.world_size > 1:
        raise RunError("recording spikes needs the whole run in one process; run it without torchrun")
    from enof.runtime.fast.device import auto_batch_size, resolve_device  # imports torch: only when running

    torch_device = resolve_device(device if backend == "fast" else "cpu", shard.local_rank)
    if batch_size == 0:
        batch_size = auto_batch_size(program, torch_device, len(inputs))
    _check_raster_fits(program, min(batch_size, len(inputs)), bundle.root)
    netx_file = None
    if backend == "netx":  # checked against the chip program before any Lava process starts
        from enof.runtime.netx.file import netx_file_for_run

        netx_file = netx_file_for_run(bundle)
    first, end = shard.bounds(len(inputs))
    mine, error = None, None
    tell = progress and shard.is_main
    console = Console(stderr=True) if tell else None
    estimate = None
    if backend in ("lava", "netx"):  # both run on Lava's CPU models
        from enof.runtime.lava.estimate import estimate_lava, lava_estimate_line

        estimate = estimate_lava(program, len(inputs), min(batch_size, len(inputs)), lava_workers)
        if tell:
            console.file.write(lava_estimate_line(program, estimate, len(inputs), timeout_s) + "\n")
    try:
        with RunProgress(f"{backend}/{precision}", end - first, estimate and estimate.seconds, console, tell) as bar:
            chip = _chip_runner(backend, precision, timeout_s, lava_workers, torch_device, spike_sink is not None, netx_file)
            mine = _run_samples(bundle, inputs, first, end, normalization, chip, batch_size, bar.advance, spike_sink)
    except EnofError as exc:  # under torchrun the other ranks must hear of it, not wait in gather
        error = exc
    shard.agree(error)
    gathered = shard.gather(mine)
    if gathered is None:  # a rank other than 0: its shard went to rank 0
        return None
    predictions = np.concatenate([part.predictions for part in gathered])  # rank order is sample order
    spike_totals = {n: sum(part.spike_totals[n] for part in gathered) for n in program.layers}  # int64: exact
    nonzero_total = sum(part.input_nonzero for part in gathered)
    activity = count_activity(program, spike_totals, nonzero_total, len(inputs), bundle.placement.cores)
    # shards add their sums and keep the largest maxima
    step_sums = {f: sum(part.step_sums[f] for part in gathered) for f in STEP_FIELDS}
    step_maxima = {f: np.maximum.reduce([part.step_maxima[f] for part in gathered]) for f in STEP_FIELDS}
    return RunResult(
        bundle_manifest_sha256=bundle.manifest_sha256, backend=backend, precision=precision,
        target=manifest.target.name, timesteps=program.timesteps, samples=len(inputs),
        accuracy=None if labels is None else float((predictions == labels).mean()), predictions=predictions.tolist(),
        labels=None if labels is None else labels.tolist(),
        layers=activity.layers, cores=activity.cores, host=host_cost(bundle),
        wall_s=time.perf_counter() - start, per_step=core_steps(bundle.placement.cores, step_sums, step_maxima), bundle=str(bundle.root.resolve()),
    )  # fmt: skip


@dataclass(frozen=True)
class _Totals:
    """What samples [first, end) gave: their predictions and integer spike and input-activity totals."""

    predictions: np.ndarray
    spike_totals: dict[str, np.ndarray]
    input_nonzero: np.ndarray
    step_sums: dict[str, np.ndarray]  # StepRecorder.sums / .maxima: per core and step (run.json's per_step)
    step_maxima: dict[str, np.ndarray]


def _run_samples(bundle: OpenedBundle, inputs, first: int, end: int, normalization: Normalization | None, chip,
                 batch_size: int, advance, spike_sink: dict[str, list[np.ndarray]] | None = None) -> _Totals:
    """host_in → chip → host_out over samples [first, end) of ``inputs``, ``batch_size`` at a time (one batch in
    memory: ``inputs`` may be a memory map)."""
    program, manifest = bundle.program, bundle.manifest
    host_in = bundle.host_session("host_in.onnx") if program.input_mode == "current" else None
    host_out = bundle.host_session("host_out.onnx")
    predictions = np.zeros(end - first, np.int64)
    spike_totals = {n: np.zeros(layer.shape, np.int64) for n, layer in program.layers.items()}
    nonzero_total = np.zeros(program.input_shape, np.int64)
    steps = StepRecorder(program, bundle.placement.cores)
    for at in range(first, end, batch_size):
        x = np.asarray(inputs[at : min(at + batch_size, end)], np.float32)
        if normalization is not None:
            x = normalization.apply(x)
        chip_in = run_host_in(host_in, x) if host_in is not None else x
        if tuple(chip_in.shape) != (len(x), *program.sample_shape):
            raise RunError(f"host_in.onnx gave current {tuple(chip_in.shape)}, the chip takes (B, {', '.join(map(str, program.sample_shape))})")
        run = chip(program, chip_in, steps)
        if spike_sink is not None:
            for name, raster in run.spikes.items():
                spike_sink.setdefault(name, []).append(raster)
        for name in spike_totals:
            spike_totals[name] += run.spike_counts[name]
        nonzero_total += run.input_nonzero
        logits = run_host_out(host_out, run.outputs)
        if tuple(logits.shape) != (len(x), manifest.num_classes):
            raise RunError(f"host_out.onnx gave logits {tuple(logits.shape)}, expected ({len(x)}, {manifest.num_classes})")
        predictions[at - first : at - first + len(x)] = logits.argmax(axis=1)
        advance(len(x))
    return _Totals(predictions, spike_totals, nonzero_total, steps.sums, steps.maxima)


def _check_raster_fits(program: ChipProgram, batch: int, where: Path) -> None:
    """Refuse a batch whose chip-output spike raster (T, B, *outputs) in float32, as both backends hand it to
    host_out.onnx, cannot fit this machine's memory (a lower bound on what the run needs)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system that reports it: nothing to compare
        return
    output_neurons = sum(program.layers[n].neurons for n in program.outputs)
    per_sample = program.timesteps * output_neurons * np.dtype(np.float32).itemsize
    if per_sample * batch <= memory:
        return
    advice = (f"lower --batch-size to {memory // per_sample} or less" if per_sample <= memory
              else "even one sample does not fit: re-export with fewer timesteps")
    raise RunError(
        f"{where}: T = {program.timesteps} steps of {output_neurons:,} output neurons for a batch "
        f"of {batch} need {byte_size(per_sample * batch)} of spike raster, more than this machine's {byte_size(memory)}; {advice}"
    )


def _chip_runner(backend: Backend, precision: Precision, timeout_s: float, lava_workers: int, device, record_spikes: bool = False,
                 netx_file: bytes | None = None):
    if backend == "fast":
        # lazy: each backend loads its own stack when it runs (torch for fast, the Lava launcher below)
        from enof.runtime.fast import simulate

        # each step's spikes go straight into the recorder: no raster of the whole batch is kept unless asked for
        return lambda program, x, steps: simulate(program, x, precision, record_spikes, device=device, on_step=steps.add_step)
    # lazy: as the fast backend above
    from enof.runtime.lava.backend import DEFAULT_SAMPLES_PER_RUN, run_lava

    def lava(program: ChipProgram, x: np.ndarray, steps: StepRecorder):
        per_run = min(DEFAULT_SAMPLES_PER_RUN, -(-len(x) // lava_workers))  # a chunk for each worker
        run = run_lava(program, x, precision, timeout_s, samples_per_run=per_run, workers=lava_workers, netx_file=netx_file)
        steps.add_batch(run.spikes, run.input_events)  # Lava hands back whole rasters
        return run

    return lava


def host_cost(bundle: OpenedBundle) -> HostCost:
    """Per inference: host MACs, and the host↔chip traffic of a dense transfer.

    Host → chip: ``ceil(input_bits / 8)`` bytes per input value (binary input spikes one bit each), once per
    sample for a static image (written into the input neurons' biases and held there for the T steps, as
    lava-dl's PilotNet LIF benchmark holds its frame; a Lava source re-sends it each step, the chip need not),
    every step for event frames (sent dense). Chip → host: one bit per output neuron per step.
    """
    program = bundle.program
    steps = program.timesteps
    macs = bundle.manifest.host_macs  # counted at export (enof.exporter.host_macs)
    in_macs = macs.host_in_total if program.input_mode == "current" else 0
    out_macs = macs.host_out_total
    input_values = int(np.prod(program.input_shape)) * (steps if program.input_temporal else 1)
    output_neurons = sum(program.layers[n].neurons for n in program.outputs)
    return HostCost(
        host_in_macs=in_macs, host_out_macs=out_macs,
        bytes_host_to_chip=(-(-input_values // 8) if program.input_mode == "spikes"
                            else input_values * -(-program.input_bits // 8)),
        bytes_chip_to_host=-(-output_neurons * steps * CHIP_OUTPUT_BITS_PER_NEURON_STEP // 8),
    )  # fmt: skip


__all__ = ["run_bundle", "check_run_against_bundle", "host_cost"]
