"""CIFAR-10 / CIFAR-100 from the standard python version on disk (torchvision's layout); no download.

torchvision's own loader insists on the official md5 sums, so it refuses subsets and cannot be
tested on small files; this reader accepts any file set in the same pickle format and, because no
checksum vouches for the files any more, unpickles them with a whitelist that only builds numpy
arrays, lists, dicts and strings (a hostile pickle cannot run code).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from torchvision import datasets, transforms

from enof.errors import DataError
from enof.datasets.spec import DatasetSpec, LoadedDataset
from enof.datasets.transforms import Cutout

# Per-channel statistics of the CIFAR-10 / CIFAR-100 training images on the 0..1 scale.
CIFAR10_SPEC = DatasetSpec(
    name="cifar10",
    input_shape=(3, 32, 32),
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    description="CIFAR-10, python version (cifar-10-batches-py)",
)
CIFAR100_SPEC = DatasetSpec(
    name="cifar100",
    input_shape=(3, 32, 32),
    num_classes=100,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    description="CIFAR-100, python version (cifar-100-python)",
)

_LAYOUT = {
    # name: (torchvision class whose file names and __getitem__ we reuse, label key, expectation)
    "cifar10": (
        datasets.CIFAR10,
        "labels",
        "<root>/cifar-10-batches-py/data_batch_1..5 and test_batch (the python version of CIFAR-10)",
    ),
    "cifar100": (
        datasets.CIFAR100,
        "fine_labels",
        "<root>/cifar-100-python/train and test (the python version of CIFAR-100)",
    ),
}

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _read_batch(path: Path, label_key: str, name: str) -> tuple[np.ndarray, list[int]]:
    try:
        with open(path, "rb") as handle:
            entry = _ArrayUnpickler(handle, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = [int(v) for v in entry[label_key]]
    except Exception as exc:  # any malformed batch is one user-facing error
        raise DataError(f"{name}: {path} is not a CIFAR python batch ({type(exc).__name__}: {exc})") from None
    if len(labels) != len(data):
        raise DataError(f"{name}: {path} has {len(data)} images but {len(labels)} labels")
    return data, labels


def write_cifar_batch(path: str | Path, images_chw: np.ndarray, labels: list[int], label_key: str = "labels") -> None:
    """Write one batch file in the CIFAR python format (uint8 (N, 3, 32, 32) images): what the
    official archives hold, for tests and for converters of one's own images."""
    entry = {"batch_label": Path(path).name, label_key: list(labels),
             "data": np.asarray(images_chw, np.uint8).reshape(len(images_chw), -1),
             "filenames": [f"{i}.png" for i in range(len(images_chw))]}
    with open(path, "wb") as handle:
        pickle.dump(entry, handle, protocol=2)


def write_cifar10(root: str | Path, per_batch: int, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """A CIFAR-10 root (`<root>/cifar-10-batches-py/`) of random images, `per_batch` per file."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / datasets.CIFAR10.base_folder
    folder.mkdir(parents=True)
    batches = {}
    for name, _md5 in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list:
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, size=per_batch).tolist()
        write_cifar_batch(folder / name, images, labels)
        batches[name] = (images, labels)
    return batches


class _CifarFromDisk(datasets.VisionDataset):
    """torchvision's CIFAR item logic (uint8 HWC → PIL → transform) over arrays we read safely."""

    def __init__(self, images_hwc: np.ndarray, targets: list[int], transform) -> None:
        super().__init__(root=None, transform=transform)
        self.data = images_hwc
        self.targets = targets

    __getitem__ = datasets.CIFAR10.__getitem__

    def __len__(self) -> int:
        return len(self.data)


def _split(root: Path, name: str, train: bool) -> tuple[np.ndarray, list[int]]:
    tv_class, label_key, expected = _LAYOUT[name]
    folder = root / tv_class.base_folder
    files = [folder / f for f, _md5 in (tv_class.train_list if train else tv_class.test_list)]
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{name}: expected {expected}; missing {missing[0]}")
    arrays, targets = [], []
    for path in files:
        data, labels = _read_batch(path, label_key, name)
        arrays.append(data)
        targets.extend(labels)
    return np.concatenate(arrays).transpose(0, 2, 3, 1).copy(), targets


def cifar_transforms(spec: DatasetSpec, train_augment: bool):
    """The EnOF group's recipe: RandomCrop(32, pad 4) + flip + AutoAugment(CIFAR10) + Cutout(16)."""
    normalize = [transforms.ToTensor(), transforms.Normalize(spec.mean, spec.std)]
    if not train_augment:
        return transforms.Compose(normalize)
    return transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.AutoAugment(transforms.AutoAugmentPolicy.CIFAR10),
            *normalize,
            Cutout(16),
        ]
    )


def load_cifar_dataset(name: str, root, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    """CIFAR-10 or CIFAR-100 under `root`; training split augmented when `train_augment`."""
    spec = {"cifar10": CIFAR10_SPEC, "cifar100": CIFAR100_SPEC}[name]
    if root is None:
        raise DataError(f"{name}: needs --data-root; expected {_LAYOUT[name][2]}")
    root = Path(root)
    x_train, y_train = _split(root, name, train=True)
    x_test, y_test = _split(root, name, train=False)
    train = _CifarFromDisk(x_train, y_train, cifar_transforms(spec, train_augment))
    test = _CifarFromDisk(x_test, y_test, cifar_transforms(spec, train_augment=False))
    return LoadedDataset(spec, train, test)


def cifar_test_split(name: str, root) -> _CifarFromDisk:
    """Only the normalized test batch of CIFAR-10/100 under `root` (the training batches need not exist)."""
    if root is None:
        raise DataError(f"{name}: needs --data-root; expected {_LAYOUT[name][2]}")
    spec = {"cifar10": CIFAR10_SPEC, "cifar100": CIFAR100_SPEC}[name]
    return _CifarFromDisk(*_split(Path(root), name, train=False), cifar_transforms(spec, train_augment=False))


def cifar10_test_split(root, timesteps: int = 1) -> _CifarFromDisk:
    return cifar_test_split("cifar10", root)


def cifar100_test_split(root, timesteps: int = 1) -> _CifarFromDisk:
    return cifar_test_split("cifar100", root)


def load_cifar10_dataset(root, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    return load_cifar_dataset("cifar10", root, train_augment, timesteps)


def load_cifar100_dataset(root, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    return load_cifar_dataset("cifar100", root, train_augment, timesteps)
