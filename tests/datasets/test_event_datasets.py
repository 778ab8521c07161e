"""Event data sets (CIFAR10-DVS .aedat4, N-MNIST .bin, DVS128 Gesture .npy) read from small files written in
the real formats, binned into T frames exactly, and bad files refused in one line naming the file."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from enof.datasets import dataset_spec, load_dataset, load_test_split
from enof.datasets.cifar_dvs import CLASSES as DVS_CLASSES
from enof.datasets.event_formats import (
    Events,
    read_aedat4,
    read_gesture_npy,
    read_nmnist_bin,
    write_aedat4,
    write_gesture_npy,
    write_nmnist_bin,
)
from enof.errors import DataError


def _events(n: int, width: int, height: int, seed: int, duration_us: int = 300_000) -> Events:
    rng = np.random.default_rng(seed)
    return Events(np.sort(rng.integers(0, duration_us, n)), rng.integers(0, width, n), rng.integers(0, height, n),
                  rng.integers(0, 2, n))  # fmt: skip


def _same(a: Events, b: Events) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("t_us", "x", "y", "p"))


@pytest.mark.parametrize("fmt", ["aedat4", "nmnist", "gesture"])
def test_event_files_written_per_spec_read_back_every_event(tmp_path, fmt):
    """aedat4 through the aedat decoder (several packets), N-MNIST through tonic.io.read_mnist_file, the
    gesture .npy as tonic loads it: every event, exactly (t in µs; the .npy stores ms as floats)."""
    events = _events(10_000, 34, 34, seed=1)
    write, read = {"aedat4": (lambda p, e: write_aedat4(p, e, (128, 128)), read_aedat4),
                   "nmnist": (write_nmnist_bin, read_nmnist_bin), "gesture": (write_gesture_npy, read_gesture_npy)}[fmt]
    path = tmp_path / f"rec.{ {'aedat4': 'aedat4', 'nmnist': 'bin', 'gesture': 'npy'}[fmt]}"
    write(path, events)
    assert _same(read(path), events)


def _cifar10dvs_root(root, per_class=2, n=500):
    for label, name in enumerate(DVS_CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            write_aedat4(root / name / f"cifar10_{name}_{i}.aedat4", _events(n, 128, 128, seed=10 * label + i), (128, 128))


def _nmnist_root(root, per_class=1, n=300):
    for split in ("Train", "Test"):
        for digit in range(10):
            folder = root / "NMNIST" / split / str(digit)
            folder.mkdir(parents=True)
            for i in range(per_class):
                write_nmnist_bin(folder / f"{i:05d}.bin", _events(n, 34, 34, seed=digit * 7 + i))


def _gesture_root(root, n=400):
    for folder, users in (("ibmGestureTrain", (1, 2)), ("ibmGestureTest", (24,))):
        for user in users:
            recording = root / "DVSGesture" / folder / f"user{user:02d}_fluorescent"
            recording.mkdir(parents=True)
            for label in range(11):
                write_gesture_npy(recording / f"{label}.npy", _events(n, 128, 128, seed=user * 11 + label))


def test_cifar10dvs_aedat4_root_becomes_t_by_2_by_48_by_48_frames(tmp_path):
    _cifar10dvs_root(tmp_path)
    data = load_dataset("cifar10dvs", tmp_path, train_augment=False, timesteps=3)
    assert (len(data.train), len(data.test)) == (10, 10)
    frames, label = data.test[4]
    assert frames.shape == (3, 2, 48, 48) and label == 4
    # Antialiased resizing keeps the event mass up to the area factor (128/48)^2; 2 % covers the border bins.
    assert float(frames.sum()) * (128 / 48) ** 2 == pytest.approx(500, rel=0.02)


def test_nmnist_root_becomes_exact_t_by_2_by_34_by_34_event_counts(tmp_path):
    _nmnist_root(tmp_path)
    data = load_dataset("nmnist", tmp_path, timesteps=4)
    assert (len(data.train), len(data.test)) == (10, 10)
    frames, label = data.test[7]
    assert frames.shape == (4, 2, 34, 34) and label == 7
    events = _events(300, 34, 34, seed=7 * 7)
    assert float(frames.sum()) == 300  # no resize at the sensor's size: every event counted once
    np.testing.assert_array_equal(frames.sum(0)[1].numpy(), np.histogram2d(
        events.y[events.p == 1], events.x[events.p == 1], bins=34, range=[[0, 34], [0, 34]])[0])


def test_dvsgesture_root_gives_labels_from_file_names_and_2_by_32_by_32_frames(tmp_path):
    _gesture_root(tmp_path)
    data = load_dataset("dvsgesture", tmp_path, timesteps=5)
    assert (len(data.train), len(data.test)) == (22, 11)
    frames, label = data.test[10]
    assert frames.shape == (5, 2, 32, 32) and label == 10
    # Antialiased bilinear (a triangle filter 2 × 4 px wide) keeps the mass up to the area factor 16, less a
    # sliver at the image border: within 0.1 %.
    assert float(frames.sum()) * (128 / 32) ** 2 == pytest.approx(400, rel=1e-3)


def test_frame_size_bins_the_same_recordings_to_the_architectures_input_size(tmp_path):
    """--frame-size: N-MNIST's 34×34 counts halved to 17×17 for both splits and the test split read alone; the
    spec (what the checkpoint records) says (2, 17, 17). Antialiased bilinear at 2× is a triangle filter 4 px
    wide with weights summing to 1: per polarity and step the event mass is kept up to the area factor 4, less
    what the border clamp moves (2 %), and a frame pixel only sees the sensor pixels within 2 px of it."""
    _nmnist_root(tmp_path)
    full = load_dataset("nmnist", tmp_path, timesteps=4)
    half = load_dataset("nmnist", tmp_path, timesteps=4, frame_hw=(17, 17))
    assert half.spec.input_shape == (2, 17, 17) and dataset_spec("nmnist", (17, 17)) == half.spec
    for split in ("train", "test"):
        frames, label = getattr(half, split)[3]
        counts, same_label = getattr(full, split)[3]
        assert frames.shape == (4, 2, 17, 17) and label == same_label == 3
        np.testing.assert_allclose(4 * frames.sum(dim=(2, 3)).numpy(), counts.sum(dim=(2, 3)).numpy(), rtol=0.02, atol=0.5)
        near = torch.nn.functional.max_pool2d(counts, 6, stride=2, padding=2)  # any event within 2 px
        assert bool((frames[near == 0] == 0).all()) and float(frames.sum()) > 0
    alone = load_test_split("nmnist", tmp_path, timesteps=4, frame_hw=(17, 17))
    np.testing.assert_array_equal(alone[5][0].numpy(), half.test[5][0].numpy())
    rectangle = load_dataset("nmnist", tmp_path, timesteps=2, frame_hw=(20, 30)).test[0][0]
    assert rectangle.shape == (2, 2, 20, 30)  # (height, width), in that order


@pytest.mark.parametrize("name, size, match", [
    ("digits", (8, 8), r"^--frame-size: digits is a data set of 8×8 images; a frame size applies to event data sets only$"),
    ("nmnist", (0, 17), r"^--frame-size 0×17: expected a height and a width, whole numbers from 1 to 1024$"),
    ("nmnist", (17,), r"^--frame-size 17: expected a height and a width"),
])
def test_a_frame_size_for_images_or_of_a_bad_shape_is_one_line(tmp_path, name, size, match):
    with pytest.raises(DataError, match=match):
        load_dataset(name, tmp_path, frame_hw=size)  # refused before any file is looked for


@pytest.mark.parametrize("name", ["cifar10dvs", "nmnist", "dvsgesture"])
def test_a_root_without_the_expected_folders_is_one_line_saying_what_is_expected(tmp_path, name):
    (tmp_path / "stray.txt").write_text("not a data set")
    with pytest.raises(DataError, match=rf"^{name}: expected tonic's <root>/") as info:
        load_dataset(name, tmp_path)
    assert "\n" not in str(info.value) and str(tmp_path) in str(info.value)


def _bad_cases(tmp_path):
    """(data set, root writer, file to spoil, spoiler, expected message) for each kind of bad input."""
    cifar = tmp_path / "cifar" / "cat" / "cifar10_cat_0.aedat4"
    nmnist = tmp_path / "nmnist" / "NMNIST" / "Train" / "3" / "00000.bin"
    gesture = tmp_path / "gesture" / "DVSGesture" / "ibmGestureTrain" / "user01_fluorescent" / "3.npy"
    outside = Events(np.array([1, 2]), np.array([5, 128]), np.array([5, 6]), np.array([0, 1]))
    return [
        ("cifar10dvs", cifar, lambda p: write_aedat4(p, outside, (128, 128)), "events outside the 128×128 sensor"),
        ("cifar10dvs", cifar, lambda p: write_aedat4(p, _events(0, 1, 1, 0), (128, 128)), "holds no events"),
        ("cifar10dvs", cifar, lambda p: p.write_bytes(p.read_bytes()[:-7]), "damaged AEDAT 4 file"),
        ("cifar10dvs", cifar, lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40)), "not an AEDAT 4 file"),
        ("nmnist", nmnist, lambda p: write_nmnist_bin(p, outside), "events outside the 34×34 sensor"),
        ("nmnist", nmnist, lambda p: p.write_bytes(p.read_bytes()[:-2]), "not a whole number of 5-byte events"),
        ("nmnist", nmnist, lambda p: p.write_bytes(b""), "holds no events"),
        ("dvsgesture", gesture, lambda p: write_gesture_npy(p, Events(*(np.array(v) for v in ([1, 2], [5, 6], [5, 6], [0, 2])))),
         "polarity 2; expected 0 (OFF) or 1 (ON)"),
        ("dvsgesture", gesture, lambda p: p.write_bytes(p.read_bytes()[:100]), "not a readable .npy array"),
        ("dvsgesture", gesture, lambda p: np.save(p, np.zeros((3, 2))), "expected (events, 4) rows"),
    ]  # fmt: skip


def test_bad_event_files_are_one_line_naming_the_file_and_what_was_expected(tmp_path):
    _cifar10dvs_root(tmp_path / "cifar", per_class=1, n=50)
    _nmnist_root(tmp_path / "nmnist", n=50)
    _gesture_root(tmp_path / "gesture", n=50)
    roots = {"cifar10dvs": tmp_path / "cifar", "nmnist": tmp_path / "nmnist", "dvsgesture": tmp_path / "gesture"}
    for name, path, spoil, message in _bad_cases(tmp_path):
        data = load_dataset(name, roots[name], train_augment=False, timesteps=2)
        index = data.train.files.index(path)
        good = path.read_bytes()
        spoil(path)
        with pytest.raises(DataError, match=re.escape(message)) as info:
            data.train[index]
        text = str(info.value)
        assert text.startswith(f"{name}: {path}") and "\n" not in text, text
        path.write_bytes(good)
