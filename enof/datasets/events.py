"""Event recordings → T frames of event counts, shared by every event data set (CIFAR10-DVS, N-MNIST, DVS128
Gesture): read (``event_formats``), check against the sensor, bin in time, resize to the frame size.

A data set module gives an ``EventSource`` (name, sensor, frame size, what its root should hold) and a list
of (file, label); ``EventFrames`` yields float32 (T, 2, H, W) counts per sample. Every problem with a file is
one DataError line naming the data set and the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from enof.datasets.event_formats import EventFileError, Events
from enof.datasets.spec import DatasetSpec
from enof.datasets.transforms import FlipRollFrames
from enof.errors import DataError

POLARITIES = 2  # OFF (0) and ON (1): the frames' two channels
MAX_FRAME_SIDE = 1024  # --frame-size: larger than any event sensor here (128×128 at most), a guard against typos


@dataclass(frozen=True)
class EventSource:
    """How one event data set's files become frames."""

    name: str
    sensor_hw: tuple[int, int]  # (height, width) of the camera: coordinates must lie inside
    frame_hw: tuple[int, int]  # (height, width) of the frames the network sees
    expected: str  # what the root should hold, for error messages
    read: Callable[[Path], Events]  # one file's events (enof.datasets.event_formats)


def event_spec(name: str, frame_hw: tuple[int, int], num_classes: int, description: str) -> DatasetSpec:
    """The DatasetSpec of an event data set: (T, 2, *frame_hw) samples of counts, which the network sees
    unscaled (mean 0, std 1)."""
    return DatasetSpec(name=name, input_shape=(POLARITIES, *frame_hw), num_classes=num_classes,
                       mean=(0.0,) * POLARITIES, std=(1.0,) * POLARITIES, temporal=True, description=description)  # fmt: skip


def sized_spec(spec: DatasetSpec, frame_hw) -> DatasetSpec:
    """``spec`` with its recordings binned to ``frame_hw`` (height, width) instead of its own frame size: the
    size an architecture takes (``enof-train --frame-size``). DataError for a static data set or a bad size."""
    hw = tuple(frame_hw)
    if not spec.temporal:
        raise DataError(f"--frame-size: {spec.name} is a data set of {spec.input_shape[1]}×{spec.input_shape[2]} "
                        "images; a frame size applies to event data sets only")
    if len(hw) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_FRAME_SIDE for v in hw):
        raise DataError(f"--frame-size {'×'.join(map(str, hw))}: expected a height and a width, whole numbers from 1 "
                        f"to {MAX_FRAME_SIDE}")
    if hw == tuple(spec.input_shape[1:]):
        return spec
    return replace(spec, input_shape=(spec.input_shape[0], *hw), description=f"{spec.description}, binned to {hw[0]}×{hw[1]}")


def with_frame_size(split: Dataset, spec: DatasetSpec) -> Dataset:
    """An event split (``EventFrames``) binned to ``spec``'s frame size: the same files and labels."""
    if not isinstance(split, EventFrames):
        raise TypeError(f"{spec.name}: a frame size applies to event frames, not {type(split).__name__}")
    frame_hw = tuple(spec.input_shape[1:])
    resized = EventFrames(replace(split.source, frame_hw=frame_hw), split.files, split.labels, split.timesteps)
    resized.augment = split.augment
    return resized


# Timestamps are whole µs that int64 binning multiplies by T: (t − t0) · T must stay below 2^63 for every T a
# bundle runs (formats.manifest.MAX_TIMESTEPS = 2^24), so a recording spans at most 2^38 µs (3.2 days: longer than
# any recording by far); a float timestamp is an exact integer only below 2^53.
MAX_SPAN_US = 2**38
MAX_TIMESTAMP_US = 2**53


def check_events(source: EventSource, path: Path, events: Events) -> Events:
    """One recording checked (DataError naming the file otherwise) and returned as int64 arrays: 1-D numeric arrays
    of one length, not empty; finite, non-negative timestamps within MAX_SPAN_US of each other (their order does
    not matter: binning takes each event's own time); whole-number coordinates inside the sensor; polarity 0 or 1."""
    where = f"{source.name}: {path}"
    arrays = {"t": events.t_us, "x": events.x, "y": events.y, "p": events.p}
    for name, values in arrays.items():
        values = np.asarray(values)
        if values.dtype.kind not in "biuf":
            raise DataError(f"{where}: {name} holds {values.dtype} values; expected numbers")
        if values.ndim != 1:
            raise DataError(f"{where}: {name} is an array of shape {values.shape}; expected one value per event (1-D)")
        arrays[name] = values
    t, x, y, p = arrays.values()
    if not (len(t) == len(x) == len(y) == len(p)):
        raise DataError(f"{where}: t, x, y and p hold {len(t)}, {len(x)}, {len(y)} and {len(p)} entries; "
                        "expected one per event")  # fmt: skip
    if len(t) == 0:
        raise DataError(f"{where} holds no events (an empty recording)")
    if not np.isfinite(t).all() or t.min() < 0 or t.max() >= MAX_TIMESTAMP_US:
        bad = t[~np.isfinite(t) | (t < 0) | (t >= MAX_TIMESTAMP_US)][0]
        raise DataError(f"{where}: a timestamp of {bad} µs; expected finite times from 0 to 2^53 µs")
    t = np.rint(t).astype(np.int64)
    if int(t.max()) - int(t.min()) >= MAX_SPAN_US:
        raise DataError(f"{where}: its timestamps span {int(t.max()) - int(t.min())} µs, more than the {MAX_SPAN_US} µs "
                        "(about 3 days) that binning into T frames holds; is the time unit µs?")
    height, width = source.sensor_hw
    for name, values in (("x", x), ("y", y)):
        whole = np.isfinite(values) & (values == np.floor(values)) if values.dtype.kind == "f" else np.ones(len(values), bool)
        if not whole.all():
            raise DataError(f"{where}: {name} = {values[~whole][0]} is not a whole pixel; expected integer coordinates")
    x, y = x.astype(np.int64), y.astype(np.int64)
    if x.max() >= width or y.max() >= height or min(x.min(), y.min()) < 0:
        raise DataError(
            f"{where} has events outside the {width}×{height} sensor (x in [{x.min()}, {x.max()}], "
            f"y in [{y.min()}, {y.max()}]; expected 0 <= x < {width}, 0 <= y < {height})"
        )
    bad = np.setdiff1d(np.unique(p), [0, 1])
    if bad.size:
        raise DataError(f"{where} has polarity {bad[0]:g}; expected 0 (OFF) or 1 (ON)")
    return Events(t, x, y, p.astype(np.int64))


def read_checked(source: EventSource, path: Path) -> Events:
    """``source.read(path)`` checked, every failure one DataError line naming the file."""
    try:
        events = source.read(path)
    except ModuleNotFoundError as exc:
        raise DataError(f"{source.name}: reading {path} needs the '{exc.name}' package (pip install {exc.name})") from None
    except OSError as exc:
        raise DataError(f"{source.name}: {path}: cannot read it ({exc.strerror or exc})") from None
    except EventFileError as exc:
        raise DataError(f"{source.name}: {path}: {exc}; expected {source.expected}") from None
    return check_events(source, path, events)


def events_to_frames(events: Events, timesteps: int, sensor_hw: tuple[int, int]) -> np.ndarray:
    """Count events into ``timesteps`` equal time bins: float32 (T, 2, H, W), index [t, p, y, x].

    Bin k holds t in [t0 + k·D/T, t0 + (k+1)·D/T) with D = t_last − t0 + 1, so every event lands
    in exactly one bin (tonic 1.7's ToFrame drops the events at the last bin edge).
    """
    frames = np.zeros((timesteps, POLARITIES, *sensor_hw), dtype=np.float32)
    if len(events.t_us) == 0:
        return frames
    t = np.asarray(events.t_us, dtype=np.int64)
    duration = int(t.max() - t.min()) + 1
    bins = ((t - t.min()) * timesteps) // duration
    index = (bins, np.asarray(events.p, np.int64), np.asarray(events.y, np.int64), np.asarray(events.x, np.int64))
    np.add.at(frames, index, 1.0)
    return frames


def resize_frames(frames: np.ndarray, frame_hw: tuple[int, int]) -> torch.Tensor:
    """(T, 2, H, W) → (T, 2, *frame_hw): bilinear with antialiasing (a box-like average of the counts);
    unchanged when the sizes agree."""
    tensor = torch.from_numpy(frames)
    if tuple(tensor.shape[-2:]) == tuple(frame_hw):
        return tensor
    return F.interpolate(tensor, size=frame_hw, mode="bilinear", align_corners=False, antialias=True)


class EventFrames(Dataset):
    """Event files → float32 (T, 2, *frame_hw) frames and their labels; ``augment`` adds flip + roll."""

    def __init__(self, source: EventSource, files: list[Path], labels: list[int], timesteps: int,
                 augment_roll_px: int | None = None) -> None:  # fmt: skip
        self.source, self.files, self.labels, self.timesteps = source, files, labels, timesteps
        self.augment = FlipRollFrames(augment_roll_px) if augment_roll_px is not None else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        events = read_checked(self.source, self.files[index])
        frames = resize_frames(events_to_frames(events, self.timesteps, self.source.sensor_hw), self.source.frame_hw)
        if self.augment is not None:
            frames = self.augment(frames)
        return frames, self.labels[index]


def files_in(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """The files of ``folder`` with one of ``suffixes``, in name order (the split is by this order)."""
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in suffixes)
