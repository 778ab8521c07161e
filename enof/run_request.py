"""One run of a bundle as ``enof.run`` and ``enof-run`` ask for it: the one implementation both go through.

The caller builds a :class:`RunRequest` (its arguments, with the same defaults in both), :meth:`RunRequest.checked`
checks them, :func:`choose_samples` picks what the run classifies (the caller's arrays, or the test split of a
data set) and checks it against the bundle, and :func:`run_request` runs it. A problem is one RunError, worded
the same for both callers but naming the argument as the caller spells it (``enof.spelling``: :data:`FLAGS`,
``--limit 0``; :data:`KEYWORDS`, ``limit=0``), the device and ``batch_size`` auto included.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from enof.errors import RunError
from enof.results import RunResult
from enof.runtime.bundle import OpenedBundle
from enof.runtime.distributed import Shard
from enof.runtime.run import run_bundle
from enof.runtime.inputs import Normalization, check_inputs, check_labels, load_test_split, normalization_of
from enof.spelling import FLAGS, KEYWORDS, Spelling

BACKENDS = ("fast", "lava", "netx")
PRECISIONS = ("fixed", "float")
_DEVICE_FORM = re.compile(r"auto|cpu|cuda(:\d+)?")  # resolve_device then checks that the GPU exists


@dataclass(frozen=True)
class RunRequest:
    """What a run is asked to do; the defaults of both enof.run and enof-run.

    ``device`` (built-in simulator): auto = a CUDA GPU when torch sees one, else the CPU; the fixed-point counts
    are the same on either. ``batch_size``: samples per simulator batch, or "auto" (CUDA: from free memory).
    ``normalized``: the caller's inputs already are; else the manifest's dataset.normalization is applied per
    batch where it has one. ``limit``: the first N samples only."""

    backend: str = "fast"
    precision: str = "fixed"
    batch_size: int | str = 256
    device: str = "auto"
    timeout_s: float = 600.0
    lava_workers: int = 1
    limit: int | None = None
    dataset: str | None = None
    data_root: str | Path | None = None
    normalized: bool = False
    record_spikes: bool = False
    progress: bool = False

    def checked(self, spelling: Spelling) -> "RunRequest":
        """This request with ``batch_size`` as run_bundle takes it (0: auto), or a RunError naming the argument;
        the device must exist here, and ``batch_size`` auto needs a CUDA one (this imports torch)."""
        s, backend = spelling, self.backend
        if backend not in BACKENDS:
            raise RunError(f"{s.given('backend', backend, True)}: expected {', '.join(BACKENDS)}")
        if self.precision not in PRECISIONS:
            raise RunError(f"{s.given('precision', self.precision, True)}: expected {' or '.join(PRECISIONS)}")
        if backend == "netx" and self.precision != "fixed":
            raise RunError(f"{s.given('backend', 'netx')} runs chip.net.h5's integers: {s.given('precision', 'fixed')} only")
        if not (isinstance(self.timeout_s, (int, float)) and math.isfinite(self.timeout_s)):
            raise RunError(f"{s.given('timeout_s', self.timeout_s)}: must be a finite number")
        if self.timeout_s <= 0:
            raise RunError(f"{s.given('timeout_s', self.timeout_s)}: must be > 0")
        if not _whole(self.lava_workers, 1) or (self.lava_workers > 1 and backend == "fast"):
            raise RunError(f"{s.given('lava_workers', self.lava_workers)}: needs ≥ 1, and more than 1 only with "
                           f"{s.given('backend', 'lava')} or netx")  # fmt: skip
        if not (isinstance(self.device, str) and _DEVICE_FORM.fullmatch(self.device)):
            raise RunError(f"{s.given('device', self.device, True)}: expected auto, cpu, cuda or cuda:N")
        if backend != "fast" and self.device not in ("cpu", "auto"):  # Lava runs on the CPU
            raise RunError(f"{s.given('device', self.device)}: only the built-in simulator "
                           f"({s.given('backend', 'fast')}) runs on a chosen device")  # fmt: skip
        if self.limit is not None and not _whole(self.limit, 1):
            raise RunError(f"{s.given('limit', self.limit)}: expected a whole number ≥ 1 (the first N samples)")
        batch_size = _batch_size(self.batch_size, s)
        _check_device(backend, self.device, batch_size == 0, s)
        return replace(self, batch_size=batch_size)


def _check_device(backend: str, device: str, auto_batch: bool, s: Spelling) -> None:
    """The device exists on this machine, and ``batch_size`` auto has a CUDA GPU to size itself by: checked here,
    before the bundle is opened, so that the errors name the argument as the caller spells it."""
    # lazy: torch loads when a run is checked, not when enof is imported
    from enof.runtime.fast.device import refuse_auto_batch_size_off_cuda, resolve_device

    torch_device = resolve_device(device if backend == "fast" else "cpu", spelling=s)  # as run_bundle resolves it
    if auto_batch:
        refuse_auto_batch_size_off_cuda(torch_device, s)


def _whole(value, least: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= least


def _batch_size(value, s: Spelling) -> int:
    """A whole number ≥ 1, or auto (0 to run_bundle); enof-run's text "16" is 16."""
    if value == "auto":
        return 0
    number = int(value) if isinstance(value, str) and value.isdigit() else value
    if not _whole(number, 1):
        raise RunError(f"{s.given('batch_size', value)}: expected a whole number ≥ 1 or auto")
    return int(number)


@dataclass(frozen=True)
class Samples:
    """What a run classifies: the caller's inputs (possibly a memory map) or a test split, its labels or None,
    the normalization the run applies per batch (None: none), and its name in the first line of enof-run."""

    name: str
    inputs: np.ndarray
    labels: np.ndarray | None
    normalization: Normalization | None
    test_split: bool


def choose_samples(opened: OpenedBundle, request: RunRequest, spelling: Spelling, inputs: np.ndarray | None = None,
                   labels: np.ndarray | None = None, where: tuple[str, str] = ("inputs", "labels"),
                   name: str = "inputs") -> Samples:  # fmt: skip
    """``inputs`` (and ``labels``) checked against the bundle, or the test split of ``request.dataset`` (default:
    the bundle's) when ``inputs`` is None; the first ``request.limit`` of them. ``where``: how errors about the
    inputs and about the labels begin (``--inputs FILE`` for both in enof-run)."""
    s = spelling
    if inputs is None:
        if labels is not None:
            raise RunError(f"{s.labels} describe {s.own_inputs}; the test split brings its own labels")
        if request.normalized:
            raise RunError(f"{s.normalized} describes {s.own_inputs}; the data sets are normalized by their loaders")
        dataset = request.dataset or opened.manifest.dataset_name
        xs, ys = load_test_split(dataset, request.data_root, request.limit, opened)
        return Samples(dataset, xs, ys, None, test_split=True)
    if request.dataset is not None or request.data_root is not None:
        raise RunError(f"{s.inputs} replaces {s.dataset} and {s.data_root}; give one or the other")
    check_inputs(where[0], inputs, opened)  # the whole array: a NaN past the limit is still a broken file
    if labels is not None:
        labels = check_labels(where[1], labels, len(inputs), opened.manifest.num_classes)[: request.limit]
    normalization = None if request.normalized else normalization_of(opened)
    return Samples(name, inputs[: request.limit], labels, normalization, test_split=False)


def run_request(opened: OpenedBundle, samples: Samples, request: RunRequest, shard: Shard = Shard()) -> RunResult | None:
    """Run the checked ``request`` on ``samples``: the whole run (rank 0 under torchrun), None on the other ranks.
    The result knows the bundle's ``module_paths``, for tables that show the user's layer names."""
    sink: dict[str, list[np.ndarray]] | None = {} if request.record_spikes else None
    record = run_bundle(
        opened, samples.inputs, samples.labels, backend=request.backend, precision=request.precision,
        batch_size=request.batch_size, timeout_s=request.timeout_s, progress=request.progress,
        normalization=samples.normalization, shard=shard, lava_workers=request.lava_workers, device=request.device,
        spike_sink=sink,
    )  # fmt: skip
    if record is None:
        return None
    spikes = None if sink is None else {layer: np.concatenate(parts, axis=1) for layer, parts in sink.items()}
    return RunResult(record, spikes, module_paths=dict(opened.manifest.module_paths))


__all__ = ["RunRequest", "Samples", "Spelling", "FLAGS", "KEYWORDS", "choose_samples", "run_request"]
