"""--frame-size keeps CIFAR10-DVS's training augmentation (flip + roll ±5 px, the recipe's), applied to the resized
frames; the test split stays unaugmented. N-MNIST, which has no augmentation, cannot show this. Recordings are
real .aedat4 files written to a temporary root."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from enof.datasets import load_dataset
from enof.datasets.cifar_dvs import CLASSES, ROLL_PX
from enof.datasets.event_formats import Events, write_aedat4

FRAME = (24, 20)  # not square and not the data set's own 48×48: a swapped height/width shows


@pytest.fixture(scope="module")
def dvs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar10dvs")
    rng = np.random.default_rng(11)
    for name in CLASSES:
        (root / name).mkdir()
        for i in range(2):
            n = 800
            events = Events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                            rng.integers(0, 2, n))  # fmt: skip
            write_aedat4(root / name / f"cifar10_{name}_{i}.aedat4", events, (128, 128))
    return root


def _flip_roll(frames: torch.Tensor, seed: int) -> torch.Tensor:
    """The recipe by hand, drawing torch's random numbers in FlipRollFrames' order: flip with p = 0.5, then a
    roll of (dy, dx) each in [−5, 5]."""
    torch.manual_seed(seed)
    if bool(torch.rand(()) < 0.5):
        frames = frames.flip(-1)
    dy, dx = (int(v) for v in torch.randint(-ROLL_PX, ROLL_PX + 1, (2,)))
    return torch.roll(frames, shifts=(dy, dx), dims=(-2, -1))


def test_frame_size_keeps_the_train_splits_flip_and_roll_of_5_px(dvs_root):
    augmented = load_dataset("cifar10dvs", dvs_root, train_augment=True, timesteps=2, frame_hw=FRAME)
    plain = load_dataset("cifar10dvs", dvs_root, train_augment=False, timesteps=2, frame_hw=FRAME)
    assert ROLL_PX == 5
    changed = 0
    for seed in range(6):
        frames, label = plain.train[3]
        assert frames.shape == (2, 2, *FRAME)
        torch.manual_seed(seed)
        got, got_label = augmented.train[3]
        assert got_label == label
        torch.testing.assert_close(got, _flip_roll(frames, seed), rtol=0, atol=0)
        changed += int(not torch.equal(got, frames))
    assert changed >= 5  # the augmentation is applied (an identity draw is 1 in 242)


def test_frame_size_leaves_the_test_split_unaugmented(dvs_root):
    augmented = load_dataset("cifar10dvs", dvs_root, train_augment=True, timesteps=2, frame_hw=FRAME)
    plain = load_dataset("cifar10dvs", dvs_root, train_augment=False, timesteps=2, frame_hw=FRAME)
    for seed in range(3):
        torch.manual_seed(seed)
        torch.testing.assert_close(augmented.test[3][0], plain.test[3][0], rtol=0, atol=0)
