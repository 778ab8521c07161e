"""Event recordings validated as they are read (issue 27): every bad recording below was binned and trained on
without a word (or ended in a traceback); now each is one DataError naming the data set, the file and what was
expected, and the valid edges (unsorted times, the longest span binning holds) still bin exactly."""

from __future__ import annotations

import numpy as np
import pytest

from enof.datasets import load_dataset
from enof.datasets.cifar_dvs import CLASSES
from enof.datasets.event_formats import Events, write_gesture_npy
from enof.datasets.events import MAX_SPAN_US, events_to_frames
from enof.errors import DataError

N = 40


def _cifar_root(root):
    """CIFAR10-DVS in the documented .npz format, two recordings per class (one train, one test)."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(2):
            np.savez(root / name / f"{i}.npz", t=np.sort(rng.integers(0, 10_000, N)), x=rng.integers(0, 128, N),
                     y=rng.integers(0, 128, N), p=rng.integers(0, 2, N))  # fmt: skip
    return root


def _gesture_root(root):
    for folder, user in (("ibmGestureTrain", 1), ("ibmGestureTest", 24)):
        recording = root / "DVSGesture" / folder / f"user{user:02d}_led"
        recording.mkdir(parents=True)
        for label in range(11):
            rng = np.random.default_rng(label)
            write_gesture_npy(recording / f"{label}.npy", Events(np.sort(rng.integers(0, 9_000, N)),
                              rng.integers(0, 128, N), rng.integers(0, 128, N), rng.integers(0, 2, N)))  # fmt: skip
    return root


def _npz(**changes):
    arrays = {"t": np.arange(N, dtype=np.int64), "x": np.full(N, 5), "y": np.full(N, 6), "p": np.zeros(N, np.int64)}
    return {**arrays, **changes}


def _rows(column: int, value):
    rows = np.stack([np.full(N, 5.0), np.full(N, 6.0), np.zeros(N), np.arange(N, dtype=np.float64)], axis=1)
    rows[3, column] = value
    return rows


NPZ_CASES = [
    (_npz(t=np.where(np.arange(N) == 3, np.nan, np.arange(N, dtype=np.float64))), "a timestamp of nan µs"),
    (_npz(t=np.where(np.arange(N) == 3, np.inf, np.arange(N, dtype=np.float64))), "a timestamp of inf µs"),
    (_npz(t=np.arange(N) - 5), "a timestamp of -5 µs; expected finite times from 0"),
    (_npz(t=np.array([0] * (N - 1) + [MAX_SPAN_US])), f"span {MAX_SPAN_US} µs, more than the {MAX_SPAN_US} µs"),
    (_npz(p=np.full(N, 0.6)), "has polarity 0.6; expected 0 (OFF) or 1 (ON)"),
    (_npz(x=np.full(N, 3.5)), "x = 3.5 is not a whole pixel"),
    (_npz(y=np.full(N, -1)), "events outside the 128×128 sensor (x in [5, 5], y in [-1, -1]"),
    (_npz(x=np.full((N, 2), 5)), f"x is an array of shape ({N}, 2); expected one value per event (1-D)"),
    (_npz(x=np.full(N, "5")), "x holds <U1 values; expected numbers"),
    (_npz(p=np.zeros(N - 1, np.int64)), f"t, x, y and p hold {N}, {N}, {N} and {N - 1} entries"),
]
GESTURE_CASES = [
    (_rows(3, np.nan), "a timestamp of nan µs"),
    (_rows(2, 0.6), "has polarity 0.6"),
    (_rows(0, 7.25), "x = 7.25 is not a whole pixel"),
    (_rows(1, -1), "y in [-1, 6]"),
    (_rows(3, 1e12), "more than the 274877906944 µs (about 3 days) that binning into T frames holds"),
    (np.full((N, 4), "1"), "holds <U1 values; expected numbers"),
]


@pytest.mark.parametrize("arrays, message", NPZ_CASES, ids=[m for _, m in NPZ_CASES])
def test_a_bad_cifar10dvs_recording_is_one_line_naming_the_file(tmp_path, arrays, message):
    data = load_dataset("cifar10dvs", _cifar_root(tmp_path), train_augment=False, timesteps=2)
    path = tmp_path / "bird" / "0.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as info:
        data.train[data.train.files.index(path)]
    text = str(info.value)
    assert text.startswith(f"cifar10dvs: {path}") and "\n" not in text and message in text, text


@pytest.mark.parametrize("rows, message", GESTURE_CASES, ids=[m for _, m in GESTURE_CASES])
def test_a_bad_dvsgesture_recording_is_one_line_naming_the_file(tmp_path, rows, message):
    data = load_dataset("dvsgesture", _gesture_root(tmp_path), train_augment=False, timesteps=2)
    path = tmp_path / "DVSGesture" / "ibmGestureTrain" / "user01_led" / "4.npy"
    np.save(path, rows)
    with pytest.raises(DataError) as info:
        data.train[data.train.files.index(path)]
    text = str(info.value)
    assert text.startswith(f"dvsgesture: {path}") and "\n" not in text and message in text, text


def test_a_damaged_training_file_is_one_line(tmp_path):
    data = load_dataset("cifar10dvs", _cifar_root(tmp_path), train_augment=False, timesteps=2)
    path = tmp_path / "cat" / "0.npz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataError, match=r"^cifar10dvs: .*0\.npz: not an event file"):
        data.train[data.train.files.index(path)]


def test_unsorted_times_and_the_longest_span_bin_like_their_sorted_recording(tmp_path):
    """Valid edges: shuffled events bin to the same frames as sorted ones (each event binned by its own time,
    exactly); a span of MAX_SPAN_US − 1 µs is read, its first event in bin 0 and its last in bin T − 1."""
    data = load_dataset("cifar10dvs", _cifar_root(tmp_path), train_augment=False, timesteps=3)
    path = tmp_path / "dog" / "0.npz"
    index = data.train.files.index(path)
    rng = np.random.default_rng(1)
    t = np.sort(rng.integers(0, 10_000, N))
    x, y, p = rng.integers(0, 128, N), rng.integers(0, 128, N), rng.integers(0, 2, N)
    np.savez(path, t=t, x=x, y=y, p=p)
    ordered = data.train[index][0]
    order = rng.permutation(N)
    np.savez(path, t=t[order], x=x[order], y=y[order], p=p[order])
    np.testing.assert_array_equal(data.train[index][0].numpy(), ordered.numpy())
    t_long = np.array([0] + [5] * (N - 2) + [MAX_SPAN_US - 1])
    np.savez(path, t=t_long, x=np.full(N, 7), y=np.full(N, 9), p=np.ones(N, np.int64))
    data.train[index]  # read and binned without an error
    frames = events_to_frames(Events(t_long, np.full(N, 7), np.full(N, 9), np.ones(N, np.int64)), 3, (128, 128))
    assert frames[:, 1, 9, 7].tolist() == [N - 1, 0, 1]
