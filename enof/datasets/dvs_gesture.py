"""DVS128 Gesture (Amir et al. 2017) from a user-given root in tonic's layout, binned into (T, 2, 32, 32) frames.

Expected: ``<root>/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label>.npy`` (tonic's
extracted ibmGestureTrain.tar.gz / ibmGestureTest.tar.gz; or without the DVSGesture folder): one gesture per
file, rows (x, y, p, t in ms), the label 0–10 its file name (``event_formats.read_gesture_npy``). Train and
test are the recordings' own split (users 1–23 / 24–29). Frames are the 128×128 sensor averaged down to
32×32, a common size for this data set. No augmentation: a flip turns a left-hand gesture into a right-hand one.
"""

from __future__ import annotations

from pathlib import Path

from enof.datasets.event_formats import read_gesture_npy
from enof.datasets.events import EventFrames, EventSource, event_spec, files_in
from enof.datasets.spec import LoadedDataset
from enof.errors import DataError

CLASSES = ("hand clap", "right hand wave", "left hand wave", "right arm clockwise", "right arm counter clockwise",
           "left arm clockwise", "left arm counter clockwise", "arm roll", "air drums", "air guitar", "other gestures")  # fmt: skip
SENSOR_HW = (128, 128)  # DVS128
FRAME_HW = (32, 32)
FOLDERS = {True: "ibmGestureTrain", False: "ibmGestureTest"}
EXPECTED = (
    "tonic's <root>/DVSGesture/ibmGestureTrain/user<NN>_<lighting>/<label>.npy and the same under "
    f"ibmGestureTest, labels 0 to {len(CLASSES) - 1}"
)

SPEC = event_spec("dvsgesture", FRAME_HW, len(CLASSES), "DVS128 Gesture events binned into T frames of 2×32×32 counts")
SOURCE = EventSource("dvsgesture", SENSOR_HW, FRAME_HW, EXPECTED, read_gesture_npy)


def _split(root: Path, train: bool) -> tuple[list[Path], list[int]]:
    folder = next((base / FOLDERS[train] for base in (root / "DVSGesture", root) if (base / FOLDERS[train]).is_dir()), None)
    if folder is None:
        raise DataError(f"dvsgesture: expected {EXPECTED}; {root} has no {FOLDERS[train]} folder")
    files, labels = [], []
    for recording in sorted(d for d in folder.iterdir() if d.is_dir()):
        found = files_in(recording, (".npy",))
        for path in found:
            if not (path.stem.isdigit() and int(path.stem) < len(CLASSES)):
                raise DataError(f"dvsgesture: {path}: the file name is the label, expected 0.npy to {len(CLASSES) - 1}.npy")
        for path in sorted(found, key=lambda path: int(path.stem)):  # label order: 2.npy before 10.npy
            files.append(path)
            labels.append(int(path.stem))
    if not files:
        raise DataError(f"dvsgesture: {folder} holds no user<NN>_<lighting>/<label>.npy files; expected {EXPECTED}")
    return files, labels


def load_dvsgesture_dataset(root, train_augment: bool = True, timesteps: int = 10) -> LoadedDataset:
    """The train and test gestures under ``root`` framed at ``timesteps`` bins (``train_augment``: none here)."""
    if root is None:
        raise DataError(f"dvsgesture: needs --data-root; expected {EXPECTED}")
    root = Path(root)
    train = EventFrames(SOURCE, *_split(root, True), timesteps=timesteps)
    test = EventFrames(SOURCE, *_split(root, False), timesteps=timesteps)
    return LoadedDataset(SPEC, train, test)


def dvsgesture_test_split(root, timesteps: int = 10) -> EventFrames:
    """Only the test gestures under ``root`` (the train folder need not exist)."""
    if root is None:
        raise DataError(f"dvsgesture: needs --data-root; expected {EXPECTED}")
    return EventFrames(SOURCE, *_split(Path(root), False), timesteps=timesteps)
