"""`--train-limit` / `--test-limit`: fixed, seeded, stratified subsets."""

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from enof.errors import DataError
from enof.datasets.subset import dataset_labels, limit_split, stratified_indices


def test_stratified_indices_keep_class_shares_and_depend_only_on_the_seed():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    chosen = stratified_indices(labels, 20, seed=4)
    assert len(chosen) == 20 and len(set(chosen.tolist())) == 20
    assert np.bincount(labels[chosen]).tolist() == [12, 6, 2]
    assert np.array_equal(chosen, stratified_indices(labels, 20, seed=4))
    assert not np.array_equal(chosen, stratified_indices(labels, 20, seed=5))


def test_largest_remainder_fills_the_limit_exactly():
    labels = np.array([0] * 3 + [1] * 3 + [2] * 3)
    counts = np.bincount(labels[stratified_indices(labels, 7, seed=0)], minlength=3)
    assert counts.sum() == 7 and counts.max() - counts.min() <= 1


def test_limit_split_reads_labels_and_refuses_fewer_samples_than_classes():
    data = TensorDataset(torch.zeros(40, 1), torch.arange(40) % 4)
    assert dataset_labels(data).tolist() == (np.arange(40) % 4).tolist()
    subset = limit_split(data, 8, seed=0, flag="--train-limit")
    assert sorted(int(subset[i][1]) for i in range(8)) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert limit_split(data, 40, seed=0, flag="--train-limit") is data
    with pytest.raises(DataError, match="--test-limit 3: a stratified subset needs at least one sample of each of the 4 classes"):
        limit_split(data, 3, seed=0, flag="--test-limit")
