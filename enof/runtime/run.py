"""``run_bundle``: a bundle on a data set: host_in (current mode) → chip (fast or Lava) → host_out.

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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from enof.errors import BundleError, RunError
from enof.formats.bundle import check_manifest_profile, read_bundle
from enof.formats.host_graphs import check_host_in, check_host_out
from enof.formats.placement import Placement, placement_from_dict, read_placement_json
from enof.formats.quant import FixedPointRanges, chip_input_bits
from enof.formats.run_result import HostCost, RunResult, check_run_matches_bundle
from enof.hardware_profiles import Profile
from enof.runtime.counts import count_activity
from enof.runtime.host import count_macs, open_session, run_host_in, run_host_out
from enof.runtime.program import ChipProgram, ChipRun, program_from_bundle

Backend = Literal["fast", "lava"]
Precision = Literal["fixed", "float"]
CHIP_OUTPUT_BITS_PER_NEURON_STEP = 1  # a spike raster: one bit per output neuron per step


@dataclass
class LoadedBundle:
    """What a run needs from a bundle, every file checked: manifest, chip program, placement, profile."""

    path: Path
    manifest: dict  # manifest.json as checked by enof.formats.bundle
    manifest_sha256: str
    program: ChipProgram
    placement: dict  # placement.json as read (checked: ``placed`` is the same, typed)
    placed: Placement
    profile: Profile  # the target profile the manifest embeds

    def file(self, name: str) -> Path:
        return self.path / name


def load_bundle(bundle_dir: str | Path, fallback_profile: Profile | None = None) -> LoadedBundle:
    """Read and check a bundle; both backends and enof-energy run only what this accepted.

    ``read_bundle``: manifest fields, embedded profile, file hashes. ``program_from_bundle``: chip.nir and
    quant.npz against the profile's fixed-point ranges. Here, across files: the chip's input mode and
    shape against the manifest, host_in/host_out.onnx interfaces against the chip (T, shapes, classes),
    placement.json against the profile's limits and the chip's layers (each neuron on one core).
    The profile is the one the manifest embeds; ``fallback_profile`` (enof-energy --profile) stands in only
    when that no longer loads (a bundle exported under an older profile schema)."""
    bundle = read_bundle(bundle_dir)
    manifest, profile = bundle.manifest.to_dict(), bundle.profile or fallback_profile
    if profile is None:
        raise BundleError(
            f"{bundle.profile_problem}; the profile this bundle was exported with no longer loads: re-export the "
            "bundle, or give a profile to check it against (enof-energy --profile NAME|PATH)"
        )
    if bundle.profile is None:
        check_manifest_profile(bundle.manifest, profile, str(bundle.root / "manifest.json"))
    program = program_from_bundle(
        bundle.path("chip.nir"), bundle.path("quant.npz"), manifest["timesteps"],
        chip_input_bits(profile, manifest["input_mode"]), FixedPointRanges.from_profile(profile),
    )  # fmt: skip
    manifest_path = bundle.root / "manifest.json"
    if program.input_mode != manifest["input_mode"]:
        raise BundleError(f"{bundle.root}: chip.nir has {program.input_mode} input, manifest says {manifest['input_mode']}")
    image_shape = tuple(manifest["dataset"]["input_shape"])
    if program.input_mode == "graded" and program.input_shape != image_shape:
        raise BundleError(
            f"{manifest_path}: dataset.input_shape {image_shape} is not chip.nir's input {program.input_shape} (graded input)"
        )
    check_host_out(
        bundle.path("host_out.onnx"), {n: program.layers[n].shape for n in program.outputs},
        program.timesteps, manifest["num_classes"],
    )  # fmt: skip
    if program.input_mode == "current":
        check_host_in(bundle.path("host_in.onnx"), image_shape, program.input_shape)
    placement_path = bundle.path("placement.json")
    placement = read_placement_json(placement_path)
    placed = placement_from_dict(
        placement, str(placement_path), profile, {n: layer.shape for n, layer in program.layers.items()}
    )
    return LoadedBundle(Path(bundle.root), manifest, bundle.manifest_sha256, program, placement, placed, profile)


def check_run_against_bundle(run: RunResult, bundle: LoadedBundle, label: str) -> None:
    """run.json must describe a run of this bundle: its T, target, layers, cores and host figures."""
    program = bundle.program
    check_run_matches_bundle(
        run, label, timesteps=program.timesteps, target=bundle.manifest["target"]["name"],
        num_classes=bundle.manifest["num_classes"],
        layer_neurons={name: layer.neurons for name, layer in program.layers.items()},
        core_neurons={c.core_id: (c.layer, c.neurons) for c in bundle.placed.cores},
        host=host_cost(bundle, tuple(bundle.manifest["dataset"]["input_shape"])),
    )  # fmt: skip


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
    _check_raster_fits(program, min(batch_size, len(inputs)), bundle.path)
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
            if tuple(chip_in.shape) != (len(x), *program.input_shape):
                raise RunError(f"host_in.onnx gave current {tuple(chip_in.shape)}, the chip takes (B, {', '.join(map(str, program.input_shape))})")
            run = chip(program, chip_in)
            for name in spike_totals:
                spike_totals[name] += run.spike_counts[name]
            nonzero_total += run.input_nonzero
            logits = run_host_out(host_out, run.outputs)
            if tuple(logits.shape) != (len(x), manifest["num_classes"]):
                raise RunError(f"host_out.onnx gave logits {tuple(logits.shape)}, expected ({len(x)}, {manifest['num_classes']})")
            predictions[first : first + len(x)] = logits.argmax(axis=1)
            bar.advance(task, len(x))

    activity = count_activity(program, spike_totals, nonzero_total, len(inputs), bundle.placement)
    return RunResult(
        bundle_manifest_sha256=bundle.manifest_sha256, backend=backend, precision=precision,
        target=str(manifest["target"]["name"]), timesteps=program.timesteps, samples=len(inputs),
        accuracy=float((predictions == labels).mean()), predictions=predictions.tolist(), labels=labels.tolist(),
        layers=activity.layers, cores=activity.cores, host=host_cost(bundle, image_shape),
        wall_s=time.perf_counter() - start, bundle=str(bundle.path.resolve()),
    )  # fmt: skip


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
        f"of {batch} need {_size(per_sample * batch)} of spike raster, more than this machine's {_size(memory)}; {advice}"
    )


def _size(size: int) -> str:
    """Bytes in the largest binary unit that leaves at least 1 (16384 -> '16.0 KiB')."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(max(int(size).bit_length() - 1, 0) // 10, len(units) - 1)
    return f"{size / 2 ** (10 * power):,.1f} {units[power]}"


def _chip_runner(backend: Backend, precision: Precision, timeout_s: float):
    if backend == "fast":
        from enof.runtime.fast import simulate

        return lambda program, x: simulate(program, x, precision)
    from enof.runtime.lava.backend import run_lava

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


__all__ = ["run_bundle", "load_bundle", "check_run_against_bundle", "ChipRun", "LoadedBundle"]
