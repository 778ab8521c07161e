"""CIFAR10-DVS from a user-given root, binned into (T, 2, 48, 48) event-count frames.

Accepted layouts (one folder per class, named as in tonic: airplane, automobile, ..., truck):
- `<root>/<class>/*.npz`, each with 1-D arrays `t` (µs), `x`, `y` (pixels, sensor 128×128) and
  `p` (polarity 0/1) — one sample per file (the documented enof format; any converter works);
- tonic's extracted layout `<root>/<class>/*.aedat4` (or `<root>/CIFAR10DVS/<class>/...`), read
  with `tonic.io.read_aedat4` (needs the `aedat` package).
Split: per class, files in name order, the first 90% train and the last 10% test (the usual
900/100 split of the 10,000 recordings).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from enof.errors import DataError
from enof.datasets.spec import DatasetSpec, LoadedDataset
from enof.datasets.transforms import FlipRollFrames

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SENSOR_HW = (128, 128)
FRAME_HW = (48, 48)
TRAIN_FRACTION = 0.9
EXPECTED = (
    "<root>/<class>/*.npz (arrays t, x, y, p) or tonic's <root>/<class>/*.aedat4, "
    f"one folder per class: {', '.join(CLASSES)}"
)

SPEC = DatasetSpec(
    name="cifar10dvs",
    input_shape=(2, *FRAME_HW),
    num_classes=len(CLASSES),
    # Frames are event counts per bin and polarity; the network sees them unscaled.
    mean=(0.0, 0.0),
    std=(1.0, 1.0),
    temporal=True,
    description="CIFAR10-DVS events binned into T frames of 2×48×48 counts",
)


def write_events_npz(path: str | Path, t_us, x, y, p) -> None:
    """Write one recording in the documented enof format (what a converter from any source writes)."""
    arrays = {"t": np.asarray(t_us, np.int64), "x": np.asarray(x, np.int16), "y": np.asarray(y, np.int16),
              "p": np.asarray(p, np.uint8)}
    if len({len(a) for a in arrays.values()}) != 1:
        raise ValueError("t, x, y and p must have one entry per event")
    np.savez_compressed(path, **arrays)


def events_to_frames(
    t_us: np.ndarray, x: np.ndarray, y: np.ndarray, p: np.ndarray, timesteps: int,
    sensor_hw: tuple[int, int] = SENSOR_HW,
) -> np.ndarray:
    """Count events into `timesteps` equal time bins: float32 (T, 2, H, W), index [t, p, y, x].

    Bin k holds t in [t0 + k·D/T, t0 + (k+1)·D/T) with D = t_last − t0 + 1, so every event lands
    in exactly one bin (tonic 1.7's ToFrame drops the events at the last bin edge).
    """
    frames = np.zeros((timesteps, 2, *sensor_hw), dtype=np.float32)
    if len(t_us) == 0:
        return frames
    t = np.asarray(t_us, dtype=np.int64)
    duration = int(t.max() - t.min()) + 1
    bins = ((t - t.min()) * timesteps) // duration
    polarity = np.asarray(p, dtype=np.int64).clip(0, 1)
    np.add.at(frames, (bins, polarity, np.asarray(y, np.int64), np.asarray(x, np.int64)), 1.0)
    return frames


def resize_frames(frames: np.ndarray, frame_hw: tuple[int, int] = FRAME_HW) -> torch.Tensor:
    """(T, 2, H, W) → (T, 2, *frame_hw), bilinear with antialiasing (the recipe's 48×48)."""
    tensor = torch.from_numpy(frames)
    return F.interpolate(tensor, size=frame_hw, mode="bilinear", align_corners=False, antialias=True)


def _read_events(path: Path) -> tuple[np.ndarray, ...]:
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                return tuple(np.asarray(archive[k]) for k in ("t", "x", "y", "p"))
        from tonic.io import read_aedat4

        events = read_aedat4(str(path))
        names = events.dtype.names
        return tuple(np.asarray(events[n]) for n in names[:4])
    except ModuleNotFoundError as exc:
        raise DataError(
            f"cifar10dvs: reading {path} needs the '{exc.name}' package (pip install {exc.name}), "
            "or convert the recordings to .npz events (t, x, y, p)"
        ) from None
    except Exception as exc:
        raise DataError(f"cifar10dvs: {path} is not an event file ({type(exc).__name__}: {exc}); expected {EXPECTED}") from None


def check_events(path: Path, t, x, y, p) -> None:
    """One recording's events: one entry each, inside the sensor, polarity 0/1, not empty."""
    if not (len(t) == len(x) == len(y) == len(p)):
        raise DataError(f"cifar10dvs: {path}: t, x, y and p hold {len(t)}, {len(x)}, {len(y)} and {len(p)} "
                        "entries; expected one per event")
    if len(t) == 0:
        raise DataError(f"cifar10dvs: {path} holds no events (an empty recording)")
    if x.max() >= SENSOR_HW[1] or y.max() >= SENSOR_HW[0] or min(x.min(), y.min()) < 0:
        raise DataError(f"cifar10dvs: {path} has events outside the 128×128 sensor")
    bad = np.setdiff1d(np.unique(p), [0, 1])
    if bad.size:
        raise DataError(f"cifar10dvs: {path} has polarity {bad[0]}; expected 0 (OFF) or 1 (ON)")


class DvsFrames(Dataset):
    """Event files → (T, 2, 48, 48) float frames; `augment` adds flip + roll ±5 px."""

    def __init__(self, files: list[Path], labels: list[int], timesteps: int, augment: bool) -> None:
        self.files, self.labels, self.timesteps = files, labels, timesteps
        self.augment = FlipRollFrames(5) if augment else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        t, x, y, p = _read_events(self.files[index])
        check_events(self.files[index], t, x, y, p)
        frames = resize_frames(events_to_frames(t, x, y, p, self.timesteps))
        if self.augment is not None:
            frames = self.augment(frames)
        return frames, self.labels[index]


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
        files = sorted(f for f in (class_root / name).iterdir() if f.suffix in (".npz", ".aedat4"))
        if not files:
            raise DataError(f"cifar10dvs: {class_root / name} holds no .npz or .aedat4 files; expected {EXPECTED}")
        # At least one test file per class once a class has two.
        cut = min(len(files) - 1, max(1, round(len(files) * TRAIN_FRACTION))) if len(files) > 1 else 1
        for is_train, chunk in ((True, files[:cut]), (False, files[cut:])):
            splits[is_train][0].extend(chunk)
            splits[is_train][1].extend([label] * len(chunk))
    train = DvsFrames(*splits[True], timesteps=timesteps, augment=train_augment)
    test = DvsFrames(*splits[False], timesteps=timesteps, augment=False)
    return LoadedDataset(SPEC, train, test)
