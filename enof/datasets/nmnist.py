"""N-MNIST (Orchard et al. 2015) from a user-given root in tonic's layout, binned into (T, 2, 34, 34) frames.

Expected: ``<root>/NMNIST/{Train,Test}/<digit>/*.bin`` (tonic's extracted train.zip / test.zip; or
``<root>/{Train,Test}/...``), each file one recording of 40-bit events (``event_formats.read_nmnist_bin``,
through tonic). Train and test are the recordings' own split (60,000 / 10,000). No augmentation: a flip or
a roll of a 34×34 digit is not the same digit, and the recordings already hold the saccades' motion.
"""

from __future__ import annotations

from pathlib import Path

from enof.datasets.event_formats import read_nmnist_bin
from enof.datasets.events import EventFrames, EventSource, event_spec, files_in
from enof.datasets.spec import LoadedDataset
from enof.errors import DataError

CLASSES = tuple(str(digit) for digit in range(10))
SENSOR_HW = (34, 34)  # ATIS crop of Orchard et al. 2015 (tonic's NMNIST.sensor_size)
EXPECTED = "tonic's <root>/NMNIST/Train/<digit>/*.bin and <root>/NMNIST/Test/<digit>/*.bin, digits 0 to 9"

SPEC = event_spec("nmnist", SENSOR_HW, len(CLASSES), "N-MNIST events binned into T frames of 2×34×34 counts")
SOURCE = EventSource("nmnist", SENSOR_HW, SENSOR_HW, EXPECTED, read_nmnist_bin)


def _split(root: Path, folder: str) -> tuple[list[Path], list[int]]:
    for base in (root / "NMNIST", root):
        if all((base / folder / digit).is_dir() for digit in CLASSES):
            break
    else:
        raise DataError(f"nmnist: expected {EXPECTED}; {root} has no {folder}/0 … {folder}/9 folders")
    files, labels = [], []
    for label, digit in enumerate(CLASSES):
        found = files_in(base / folder / digit, (".bin",))
        if not found:
            raise DataError(f"nmnist: {base / folder / digit} holds no .bin files; expected {EXPECTED}")
        files += found
        labels += [label] * len(found)
    return files, labels


def load_nmnist_dataset(root, train_augment: bool = True, timesteps: int = 10) -> LoadedDataset:
    """The Train and Test recordings under ``root`` framed at ``timesteps`` bins (``train_augment``: none here)."""
    if root is None:
        raise DataError(f"nmnist: needs --data-root; expected {EXPECTED}")
    root = Path(root)
    train = EventFrames(SOURCE, *_split(root, "Train"), timesteps=timesteps)
    test = EventFrames(SOURCE, *_split(root, "Test"), timesteps=timesteps)
    return LoadedDataset(SPEC, train, test)


def nmnist_test_split(root, timesteps: int = 10) -> EventFrames:
    """Only the Test recordings under ``root`` (the Train folder need not exist)."""
    if root is None:
        raise DataError(f"nmnist: needs --data-root; expected {EXPECTED}")
    return EventFrames(SOURCE, *_split(Path(root), "Test"), timesteps=timesteps)
