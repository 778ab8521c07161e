"""CIFAR10-DVS from a user-given root, binned into (T, 2, 48, 48) event-count frames.

Accepted layouts (one folder per class, named as in tonic: airplane, automobile, ..., truck):
- tonic's extracted layout `<root>/<class>/*.aedat4` (or `<root>/CIFAR10DVS/<class>/...`), read
  with `tonic.io.read_aedat4` (the `aedat` package);
- `<root>/<class>/*.npz`, each with 1-D arrays `t` (µs), `x`, `y` (pixels, sensor 128×128) and
  `p` (polarity 0/1) — one sample per file (the documented enof format; any converter works).
Split: per class, files in name order, the first 90% train and the last 10% test (the usual
900/100 split of the 10,000 recordings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from enof.datasets.event_formats import EventFileError, Events, read_aedat4
from enof.datasets.events import EventFrames, EventSource, event_spec, files_in
from enof.datasets.spec import LoadedDataset
from enof.errors import DataError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SENSOR_HW = (128, 128)  # DVS128 (Li et al. 2017)
FRAME_HW = (48, 48)  # the EnOF recipe's frame size
TRAIN_FRACTION = 0.9
ROLL_PX = 5  # the recipe's augmentation: flip + roll ±5 px
SUFFIXES = (".aedat4", ".npz")
EXPECTED = (
    "tonic's <root>/<class>/*.aedat4 or <root>/<class>/*.npz (arrays t, x, y, p), "
    f"one folder per class: {', '.join(CLASSES)}"
)

SPEC = event_spec("cifar10dvs", FRAME_HW, len(CLASSES), "CIFAR10-DVS events binned into T frames of 2×48×48 counts")


def write_events_npz(path: str | Path, t_us, x, y, p) -> None:
    """Write one recording in the documented enof format (what a converter from any source writes)."""
    arrays = {"t": np.asarray(t_us, np.int64), "x": np.asarray(x, np.int16), "y": np.asarray(y, np.int16),
              "p": np.asarray(p, np.uint8)}
    if len({len(a) for a in arrays.values()}) != 1:
        raise ValueError("t, x, y and p must have one entry per event")
    np.savez_compressed(path, **arrays)


def _read(path: Path) -> Events:
    if path.suffix == ".aedat4":
        return read_aedat4(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return Events(*(np.asarray(archive[k]) for k in ("t", "x", "y", "p")))  # checked by the caller
    except Exception as exc:  # zipfile, pickle and KeyError alike: not an enof events file
        raise EventFileError(f"not an event file ({type(exc).__name__}: {exc})") from None


SOURCE = EventSource("cifar10dvs", SENSOR_HW, FRAME_HW, EXPECTED, _read)


def _class_root(root: Path) -> Path:
    for candidate in (root, root / "CIFAR10DVS"):
        if all((candidate / c).is_dir() for c in CLASSES):
            return candidate
    raise DataError(f"cifar10dvs: expected {EXPECTED}; {root} does not have these folders")


def load_cifar10dvs_dataset(root, train_augment: bool = True, timesteps: int = 10) -> LoadedDataset:
    """Per-class 90/10 split of the recordings under `root`, framed at `timesteps` bins."""
    if root is None:
        raise DataError(f"cifar10dvs: needs --data-root; expected {EXPECTED}")
    class_root = _class_root(Path(root))
    splits: dict[bool, tuple[list[Path], list[int]]] = {True: ([], []), False: ([], [])}
    for label, name in enumerate(CLASSES):
        files = files_in(class_root / name, SUFFIXES)
        if not files:
            raise DataError(f"cifar10dvs: {class_root / name} holds no .aedat4 or .npz files; expected {EXPECTED}")
        # At least one test file per class once a class has two.
        cut = min(len(files) - 1, max(1, round(len(files) * TRAIN_FRACTION))) if len(files) > 1 else 1
        for is_train, chunk in ((True, files[:cut]), (False, files[cut:])):
            splits[is_train][0].extend(chunk)
            splits[is_train][1].extend([label] * len(chunk))
    train = EventFrames(SOURCE, *splits[True], timesteps=timesteps, augment_roll_px=ROLL_PX if train_augment else None)
    test = EventFrames(SOURCE, *splits[False], timesteps=timesteps)
    return LoadedDataset(SPEC, train, test)
