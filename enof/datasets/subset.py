"""Fixed, seeded, stratified subsets of a split (`--train-limit N`, `--test-limit N`)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset, Subset, TensorDataset

from enof.errors import DataError


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """The integer label of every sample, read without loading the samples where the data set
    keeps them apart (TensorDataset, torchvision's `targets`, enof's event `labels`)."""
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[np.asarray(dataset.indices)]
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].numpy().astype(np.int64)
    for name in ("targets", "labels"):
        if hasattr(dataset, name):
            return np.asarray(getattr(dataset, name), dtype=np.int64)
    return np.asarray([int(dataset[i][1]) for i in range(len(dataset))], dtype=np.int64)


def stratified_indices(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """`limit` indices, sorted, with every class's share of `labels` kept (largest remainder):
    the same for a given (labels, limit, seed) on every machine and run."""
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * limit / len(labels)
    take = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: limit - int(take.sum())]] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def limit_split(dataset: Dataset, limit: int | None, seed: int, flag: str) -> Dataset:
    """`dataset` itself (no limit, or a limit at least its size), else a stratified `Subset`."""
    if limit is None or limit >= len(dataset):
        return dataset
    labels = dataset_labels(dataset)
    classes = len(np.unique(labels))
    if limit < classes:
        raise DataError(f"{flag} {limit}: a stratified subset needs at least one sample of each of the "
                        f"{classes} classes; use {flag} {classes} or more")
    return Subset(dataset, stratified_indices(labels, limit, seed).tolist())
