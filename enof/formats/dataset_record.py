"""The `dataset` record of a checkpoint and a bundle manifest (docs/design.md §2, §5), typed: ``DatasetSpec``.

``enof.datasets`` gives each data set's spec (and re-exports the class as ``enof.datasets.spec.DatasetSpec``);
the checkpoint and manifest readers check a record's fields and build the spec with ``from_record``;
writers store ``record()``. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a data set; what a checkpoint's and a bundle manifest's `dataset` record hold.

    `input_shape` is one frame (C, H, W). `temporal` data sets yield (T, C, H, W) per sample;
    static ones yield (C, H, W) and are repeated over T by the model's input encoder.
    `mean`/`std` are per channel on the raw scale the loader reads (digits 0..16, CIFAR 0..1):
    the network sees (raw − mean) / std.

    A record read from a file may say less than a known data set's spec: a NIR graph exported without a data
    set has only `name` ("none") and `input_shape`; `num_classes`, `mean`/`std` (together) and `temporal`
    are then None, and `record()` leaves them out, so a record reads and writes back the same.
    """

    name: str
    input_shape: tuple[int, ...]
    num_classes: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    temporal: bool | None = False  # None: the record does not say (read as static)
    description: str = ""

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise ValueError(f"{self.name}: mean and std come together")
        if self.mean is None:
            return
        channels = self.input_shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"{self.name}: mean/std need {channels} entries (one per channel)")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"{self.name}: std must be positive, got {self.std}")

    @property
    def is_temporal(self) -> bool:
        return bool(self.temporal)

    def record(self) -> dict:
        """The `dataset` record of a checkpoint and a manifest (docs/design.md §2): what this spec says."""
        out: dict = {"name": self.name, "input_shape": list(self.input_shape)}
        if self.num_classes is not None:
            out["num_classes"] = self.num_classes
        if self.temporal is not None:
            out["temporal"] = self.temporal
        if self.mean is not None:
            out["normalization"] = {"mean": list(self.mean), "std": list(self.std)}
        return out

    @classmethod
    def unnamed(cls, input_shape) -> "DatasetSpec":
        """Inputs from no known data set (a NIR graph or module exported without one): name "none", the shape."""
        return cls("none", tuple(int(v) for v in input_shape), None, None, None, temporal=None)

    @classmethod
    def from_record(cls, record: dict) -> "DatasetSpec":
        """The spec a `dataset` record holds, checked by its reader first (trainer.checkpoint, formats.bundle):
        the values as they were written (an integer stays an integer), so ``record()`` gives the record back."""
        norm = record.get("normalization")
        return cls(
            name=record["name"], input_shape=tuple(record["input_shape"]), num_classes=record.get("num_classes"),
            mean=None if norm is None else tuple(norm["mean"]), std=None if norm is None else tuple(norm["std"]),
            temporal=record.get("temporal"),
        )
