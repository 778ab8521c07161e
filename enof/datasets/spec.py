"""What a data set is: its shape, classes and normalization, and the record a checkpoint keeps."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch.utils.data import Dataset

# DatasetSpec is the dataset record of the checkpoint and manifest contracts: it lives with them in enof.formats
# (importing it there does not import torch, which enof-energy never needs) and is this package's too.
from enof.formats.dataset_record import DatasetSpec


@dataclass
class LoadedDataset:
    """A spec with its train and test splits (torch Datasets yielding (tensor, int label))."""

    spec: DatasetSpec
    train: Dataset
    test: Dataset
    notes: dict = field(default_factory=dict)
