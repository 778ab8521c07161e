"""``run_bundle``: a bundle on a data set: host_in (current mode) → chip (fast or Lava) → host_out.

Returns a RunResult (docs/design.md §7): predictions, accuracy, activity per layer and core, host
MACs and host↔chip bytes per inference. The runtime reads bundles only; it never imports the trainer.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from enof.errors import BundleError, RunError
from enof.formats.run_result import HostCost, RunResult
from enof.runtime.counts import count_activity
from enof.runtime.host import count_macs, open_session, run_host_in, run_host_out
from enof.runtime.program import ChipProgram, ChipRun, program_from_bundle

Backend = Literal["fast", "lava"]
Precision = Literal["fixed", "float"]
CHIP_OUTPUT_BITS_PER_NEURON_STEP = 1  # a spike raster: one bit per output neuron per step


@dataclass
class LoadedBundle:
    """What a run needs from a bundle: its manifest, chip program, placement and file paths."""

    path: Path
    manifest: dict
    manifest_sha256: str
    program: ChipProgram
    placement: dict

    def file(self, name: str) -> Path:
        return self.path / name


def load_bundle(bundle_dir: str | Path) -> LoadedBundle:
    """Read a bundle (hashes checked by ``enof.formats.bundle.read_bundle``) and build its ChipProgram."""
    from enof.formats.bundle import read_bundle

    bundle = read_bundle(bundle_dir)
    manifest = bundle.manifest.to_dict()
    program = program_from_bundle(
        bundle.path("chip.nir"), bundle.path("quant.npz"), int(manifest["timesteps"]), input_bits(manifest)
    )
    if program.input_mode != manifest["input_mode"]:
        raise BundleError(f"{bundle.root}: chip.nir has {program.input_mode} input, manifest says {manifest['input_mode']}")
    placement_path = bundle.path("placement.json")
    try:
        placement = json.loads(placement_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{placement_path}: not valid JSON ({exc})") from None
    return LoadedBundle(Path(bundle.root), manifest, bundle.manifest_sha256, program, placement)


def input_bits(manifest: dict) -> int:
    """Signed width of the chip's input integers: the graded payload, or the current that still fits
    the 24-bit state after Lava's << 6 (as the exporter checks it, exporter/quantize.py)."""
    try:
        profile = tomllib.loads(manifest["target"]["profile"])
        if manifest["input_mode"] == "graded":
            return int(profile["target"]["graded_spike_bits"]["value"])
        return int(profile["fixed_point"]["state_bits"]["value"]) - 6
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"manifest.json: cannot read the input width from target.profile ({exc})") from None


def run_bundle(
    bundle_dir: str | Path,
    inputs: np.ndarray,
    labels: np.ndarray,
    backend: Backend = "fast",
    precision: Precision = "fixed",
    batch_size: int = 256,
    timeout_s: float = 600.0,
    progress: bool = True,
) -> RunResult:
    """Classify ``inputs`` (N, C, H, W), normalized as the data set's loader gives them, with the bundle."""
    start = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    program, manifest = bundle.program, bundle.manifest
    inputs, labels = np.asarray(inputs, np.float32), np.asarray(labels).astype(np.int64)
    image_shape = tuple(manifest["dataset"]["input_shape"])
    if inputs.ndim != 1 + len(image_shape) or tuple(inputs.shape[1:]) != image_shape:
        raise RunError(f"inputs of shape {inputs.shape} do not match the bundle's (N, {', '.join(map(str, image_shape))})")
    if len(labels) != len(inputs) or len(inputs) == 0:
        raise RunError(f"{len(inputs)} inputs but {len(labels)} labels (need the same number, at least 1)")
    if backend not in ("fast", "lava"):
        raise RunError(f"unknown backend {backend!r} (fast|lava)")
    chip = _chip_runner(backend, precision, timeout_s)
    host_in = open_session(bundle.file("host_in.onnx")) if program.input_mode == "current" else None
    host_out = open_session(bundle.file("host_out.onnx"))

    predictions = np.zeros(len(inputs), np.int64)
    spike_totals = {n: np.zeros(layer.shape, np.int64) for n, layer in program.layers.items()}
    nonzero_total = np.zeros(program.input_shape, np.int64)
    with _progress(progress, backend, precision) as bar:
        task = bar.add_task("samples", total=len(inputs))
        for first in range(0, len(inputs), batch_size):
            x = inputs[first : first + batch_size]
            chip_in = run_host_in(host_in, x) if host_in is not None else x
            run = chip(program, chip_in)
            for name in spike_totals:
                spike_totals[name] += run.spike_counts[name]
            nonzero_total += run.input_nonzero
            predictions[first : first + len(x)] = run_host_out(host_out, run.outputs).argmax(axis=1)
            bar.advance(task, len(x))

    activity = count_activity(program, spike_totals, nonzero_total, len(inputs), bundle.placement)
    return RunResult(
        bundle_manifest_sha256=bundle.manifest_sha256, backend=backend, precision=precision,
        target=str(manifest["target"]["name"]), timesteps=program.timesteps, samples=len(inputs),
        accuracy=float((predictions == labels).mean()), predictions=predictions.tolist(), labels=labels.tolist(),
        layers=activity.layers, cores=activity.cores, host=host_cost(bundle, image_shape),
        wall_s=time.perf_counter() - start, bundle=str(bundle.path.resolve()),
    )  # fmt: skip


def _chip_runner(backend: Backend, precision: Precision, timeout_s: float):
    if backend == "fast":
        from enof.runtime.fast import simulate

        return lambda program, x: simulate(program, x, precision)
    from enof.runtime.lava_backend import run_lava

    return lambda program, x: run_lava(program, x, precision, timeout_s)


def host_cost(bundle: LoadedBundle, image_shape: tuple[int, ...]) -> HostCost:
    """Per inference: host MACs, and the host↔chip traffic of a dense transfer.

    Host → chip: every input value at every step, ``ceil(input_bits / 8)`` bytes each (the input is
    re-sent each step, as a Lava source does). Chip → host: one bit per output neuron per step.
    """
    program = bundle.program
    steps = program.timesteps
    in_macs = 0
    if program.input_mode == "current":
        in_macs = count_macs(bundle.file("host_in.onnx"), {"x": (1, *image_shape)})
    out_shapes = {n: (steps, 1, *program.layers[n].shape) for n in program.outputs}
    out_macs = count_macs(bundle.file("host_out.onnx"), out_shapes)
    input_values = int(np.prod(program.input_shape))
    output_neurons = sum(program.layers[n].neurons for n in program.outputs)
    return HostCost(
        host_in_macs=in_macs, host_out_macs=out_macs,
        bytes_host_to_chip=input_values * steps * -(-program.input_bits // 8),
        bytes_chip_to_host=-(-output_neurons * steps * CHIP_OUTPUT_BITS_PER_NEURON_STEP // 8),
    )  # fmt: skip


def _progress(enabled: bool, backend: str, precision: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{backend}/{precision}[/bold]"), BarColumn(), MofNCompleteColumn(),
        TextColumn("samples"), TimeRemainingColumn(), disable=not enabled, transient=False,
    )  # fmt: skip


__all__ = ["run_bundle", "load_bundle", "ChipRun", "LoadedBundle"]
