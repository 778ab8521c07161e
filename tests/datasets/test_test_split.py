"""load_test_split: the test split alone, the same samples as load_dataset(...).test, with the training files gone."""

import shutil

import numpy as np
import pytest

from enof.datasets import load_dataset, load_test_split
from enof.datasets.cifar import write_cifar10
from enof.datasets.event_formats import Events, write_gesture_npy, write_nmnist_bin
from enof.datasets.mnist import write_mnist_idx


def _events(seed: int, size: int) -> Events:
    rng = np.random.default_rng(seed)
    n = 50
    return Events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, size, n), rng.integers(0, size, n),
                  rng.integers(0, 2, n))  # fmt: skip


def _nmnist_root(root):
    for split in ("Train", "Test"):
        for digit in range(10):
            (root / "NMNIST" / split / str(digit)).mkdir(parents=True)
            write_nmnist_bin(root / "NMNIST" / split / str(digit) / "00000.bin", _events(digit, 34))


def _gesture_root(root):
    for folder, user in (("ibmGestureTrain", 1), ("ibmGestureTest", 24)):
        recording = root / "DVSGesture" / folder / f"user{user:02d}_fluorescent"
        recording.mkdir(parents=True)
        for label in range(11):
            write_gesture_npy(recording / f"{label}.npy", _events(user * 11 + label, 128))


def _mnist_root(root):
    rng = np.random.default_rng(0)
    write_mnist_idx(root, rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 10, 6),
                    rng.integers(0, 256, (4, 28, 28)), rng.integers(0, 10, 4))  # fmt: skip


def _drop_training_files(name, root):
    if name == "cifar10":
        for path in (root / "cifar-10-batches-py").glob("data_batch_*"):
            path.unlink()
    elif name == "mnist":
        for path in (root / "MNIST" / "raw").glob("train-*"):
            path.unlink()
    else:
        shutil.rmtree({"nmnist": root / "NMNIST" / "Train", "dvsgesture": root / "DVSGesture" / "ibmGestureTrain"}[name])


MAKERS = {"cifar10": lambda root: write_cifar10(root, per_batch=3), "mnist": _mnist_root,
          "nmnist": _nmnist_root, "dvsgesture": _gesture_root}  # fmt: skip


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_test_split_alone_equals_the_full_loaders_test_split_without_training_files(name, tmp_path):
    MAKERS[name](tmp_path)
    full = load_dataset(name, tmp_path, train_augment=False, timesteps=3).test
    expected = [(np.asarray(x), int(y)) for x, y in (full[i] for i in range(len(full)))]
    _drop_training_files(name, tmp_path)
    with pytest.raises(Exception, match="missing|no "):  # the full loader needs the training files
        load_dataset(name, tmp_path, train_augment=False, timesteps=3)
    alone = load_test_split(name, tmp_path, timesteps=3)
    assert len(alone) == len(expected) > 0
    for i, (x, y) in enumerate(expected):
        got_x, got_y = alone[i]
        assert int(got_y) == y and np.array_equal(np.asarray(got_x), x)  # the same loader code: bit-equal


def test_embedded_data_sets_test_split_is_the_loaders():
    alone = load_test_split("digits")
    full = load_dataset("digits", train_augment=False).test
    assert len(alone) == len(full) == 360
    assert np.array_equal(np.asarray(alone[7][0]), np.asarray(full[7][0])) and int(alone[7][1]) == int(full[7][1])
