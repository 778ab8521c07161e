"""What a data set is: its shape, classes and normalization, and the record a checkpoint keeps."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch.utils.data import Dataset


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a data set.

    `input_shape` is one frame (C, H, W). `temporal` data sets yield (T, C, H, W) per sample;
    static ones yield (C, H, W) and are repeated over T by the model's input encoder.
    `mean`/`std` are per channel on the raw scale the loader reads (digits 0..16, CIFAR 0..1):
    the network sees (raw − mean) / std.
    """

    name: str
    input_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    temporal: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        channels = self.input_shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"{self.name}: mean/std need {channels} entries (one per channel)")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"{self.name}: std must be positive, got {self.std}")

    def record(self) -> dict:
        """The `dataset` dict of a checkpoint (docs/design.md §2)."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "temporal": self.temporal,
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
        }


@dataclass
class LoadedDataset:
    """A spec with its train and test splits (torch Datasets yielding (tensor, int label))."""

    spec: DatasetSpec
    train: Dataset
    test: Dataset
    notes: dict = field(default_factory=dict)
