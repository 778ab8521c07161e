"""scikit-learn's bundled 8×8 digits: the embedded default data set (nothing to download)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import TensorDataset

from enof.datasets.spec import DatasetSpec, LoadedDataset

# Fixed split: the same 1,437 / 360 images for every run, seed and command.
SPLIT_SEED = 0
TEST_FRACTION = 0.2

SPEC = DatasetSpec(
    name="digits",
    input_shape=(1, 8, 8),
    num_classes=10,
    # Raw pixels are 0..16; (x − 0) / 16 puts them in [0, 1].
    mean=(0.0,),
    std=(16.0,),
    description="scikit-learn digits, 8×8 grey, 1,797 images, stratified 80/20 split (seed 0)",
)


def digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Raw (0..16) images (N, 1, 8, 8) float32 and int64 labels: x_train, y_train, x_test, y_test."""
    # lazy: scikit-learn (and scipy) load only when the digits data set is read
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None, :, :]
    labels = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
    )
    return x_train, y_train, x_test, y_test


def load_digits_dataset(root=None, train_augment: bool = True, timesteps: int = 1) -> LoadedDataset:
    """Normalized digits in [0, 1], shape (1, 8, 8). `root` is unused (the data ship with sklearn);
    no augmentation (the images are too small for crops to help)."""
    x_train, y_train, x_test, y_test = digits_arrays()
    std = SPEC.std[0]
    train = TensorDataset(torch.from_numpy(x_train / std), torch.from_numpy(y_train))
    test = TensorDataset(torch.from_numpy(x_test / std), torch.from_numpy(y_test))
    return LoadedDataset(SPEC, train, test)
