"""A user's own samples (``enof-run --inputs FILE.npy|.npz``, ``enof.run(bundle, inputs)``), checked against the
bundle, and the test split of a data set: what a run classifies.

A ``.npy`` file holds the inputs; a ``.npz`` file holds ``inputs`` and optionally ``labels``. Inputs are a
float array (N, C, H, W), or (N, T, C, H, W) for a bundle of temporal input, on the data set's raw scale
(digits 0..16, CIFAR 0..1: what the data set's files hold); the run normalizes each batch as the manifest's
``dataset.normalization`` says, (x − mean) / std per channel (a bundle without one takes them as they are).
``normalized=True`` says the file is already normalized (what the data set loaders give): used as it is.
A ``.npy`` file is memory-mapped, so a run holds one batch in memory, not the file; a ``.npz`` member is
read whole (numpy cannot map one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from enof.errors import RunError
from enof.runtime.array_files import kind_of, read_npy, read_npz
from enof.formats.manifest import MANIFEST_NAME
from enof.runtime.bundle import OpenedBundle

FLOAT_KINDS = "f"  # numpy's kind code of float16/32/64
_FINITE_CHECK_SAMPLES = 256  # samples per chunk of the NaN/Inf scan: bounded memory on a mapped file


@dataclass(frozen=True)
class Normalization:
    """Per-channel (x − mean) / std, applied along the channel axis (−3 of (…, C, H, W))."""

    mean: np.ndarray  # (C,) float32
    std: np.ndarray  # (C,) float32

    def apply(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean[:, None, None]) / self.std[:, None, None]


@dataclass(frozen=True)
class InputsFile:
    """An inputs file's arrays as read, before any check against a bundle: inputs (a read-only memory map for a
    .npy) and labels or None."""

    inputs: np.ndarray
    labels: np.ndarray | None


def read_inputs_file(path: str | Path) -> InputsFile:
    """Open ``path`` (.npy: the inputs; .npz: ``inputs`` and optional ``labels``); a file that is not one is one
    RunError naming it. Its arrays are checked against a bundle by ``check_inputs`` and ``check_labels``."""
    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise RunError(f"--inputs {path}: expected a .npy or .npz file")
    if kind_of(path, "--inputs") == ".npy":
        return InputsFile(read_npy(path, "--inputs"), None)
    arrays = read_npz(path, "--inputs", ("inputs", "labels"), "save it with np.savez(path, inputs=x, labels=y)")
    return InputsFile(arrays["inputs"], arrays.get("labels"))


def normalization_of(bundle: OpenedBundle) -> Normalization | None:
    """The manifest's dataset.normalization as arrays; None when it has none (a bundle exported without a data
    set: its network takes the values as they are)."""
    spec = bundle.manifest.dataset
    if spec.mean is None:
        return None
    return Normalization(np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32))


def check_inputs(where: str, inputs: np.ndarray, bundle: OpenedBundle) -> None:
    """Inputs for ``bundle``: a float array (N ≥ 1, *sample shape), every value finite; ``where`` names them
    (``--inputs FILE``, or the argument of ``enof.run``)."""
    program = bundle.program
    sample_shape = program.sample_shape if program.input_temporal else bundle.manifest.input_shape
    expected = f"(N, {', '.join(map(str, sample_shape))})" + (" (T event frames per sample)" if program.input_temporal else "")
    if inputs.dtype.kind not in FLOAT_KINDS:
        raise RunError(f"{where}: dtype {inputs.dtype}; expected a float array (float16/32/64) {expected}")
    if inputs.ndim != 1 + len(sample_shape):
        raise RunError(f"{where}: {inputs.ndim} dimensions {tuple(inputs.shape)}; expected {1 + len(sample_shape)}: {expected}")
    if tuple(inputs.shape[1:]) != sample_shape or len(inputs) == 0:
        raise RunError(f"{where}: shape {tuple(inputs.shape)}; expected {expected} with N ≥ 1")
    counts = program.input_temporal or program.input_mode == "spikes"  # event frames: spikes counted per pixel
    for first in range(0, len(inputs), _FINITE_CHECK_SAMPLES):
        chunk = inputs[first : first + _FINITE_CHECK_SAMPLES]
        finite = np.isfinite(chunk)
        if not finite.all():
            sample = first + int(np.argwhere(~finite)[0][0])
            raise RunError(f"{where}: sample {sample} holds NaN or Inf; every value must be finite")
        if counts and (chunk < 0).any():
            sample = first + int(np.argwhere(chunk < 0)[0][0])
            raise RunError(f"{where}: sample {sample} holds a negative value ({chunk.min()}); event frames "
                           "are counts of events per pixel and step, ≥ 0")


def check_labels(where: str, labels: np.ndarray, count: int, num_classes: int) -> np.ndarray:
    """Labels: integer class indices of the bundle, one per input; as int64."""
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise RunError(f"{where}: labels of dtype {labels.dtype} and shape {tuple(labels.shape)}; "
                       f"expected integer class indices ({count},)")
    if len(labels) != count:
        raise RunError(f"{where}: {len(labels)} labels for {count} inputs; expected one label per input")
    outside = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if len(outside):
        i = int(outside[0])
        raise RunError(f"{where}: labels[{i}] = {labels[i]}, outside the bundle's classes 0..{num_classes - 1}")
    return labels.astype(np.int64)


def load_test_split(name: str, data_root, limit: int | None, bundle: OpenedBundle) -> tuple[np.ndarray, np.ndarray]:
    """The test split of data set ``name`` for the opened bundle, as its loader normalizes it: images
    (N, C, H, W), or event frames (N, T, C, H, W) binned at the bundle's T; labels (N,) int64. The one
    test-split loader of enof-run, enof-sweep (each point binned at its own T), the referee and enof.run."""
    # lazy: the data set loaders pull torch and torchvision; --inputs arrays need neither
    from enof.datasets import check_data_root, dataset_spec, frame_hw_of, load_test_split as read_test_split

    spec = dataset_spec(name)
    if spec.temporal != bundle.program.input_temporal:
        takes = "event input (dataset.temporal)" if bundle.program.input_temporal else "static images"
        raise RunError(
            f"{bundle.root / MANIFEST_NAME}: the bundle takes {takes}, but {name} is "
            f"{'an event' if spec.temporal else 'a static'} data set; run it on a data set like the one it was trained on"
        )
    check_data_root(name, data_root)
    frame_hw = frame_hw_of(bundle.manifest.dataset) if name == bundle.manifest.dataset_name else None
    test = read_test_split(name, data_root, timesteps=bundle.manifest.timesteps, frame_hw=frame_hw)
    count = len(test) if limit is None else min(limit, len(test))
    xs, ys = [], []
    for i in range(count):
        x, y = test[i]
        xs.append(np.asarray(x, dtype=np.float32))
        ys.append(int(y))
    return np.stack(xs), np.asarray(ys, dtype=np.int64)
