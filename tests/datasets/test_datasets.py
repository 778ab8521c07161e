"""Data loaders read the real on-disk formats (written here in miniature) and fail in one line."""

import pickle
import re

import numpy as np
import pytest
import torch

from enof.errors import DataError
from enof.datasets import dataset_spec, load_dataset
from enof.datasets.cifar import write_cifar10, write_cifar_batch
from enof.datasets.cifar_dvs import CLASSES, write_events_npz
from enof.datasets.event_formats import Events
from enof.datasets.events import events_to_frames
from enof.datasets.transforms import Cutout


def test_digits_split_is_fixed_stratified_80_20_and_scaled_to_unit_range():
    data = load_dataset("digits")
    assert (len(data.train), len(data.test)) == (1437, 360)  # 1,797 images, 20% test
    x_train, y_train = data.train.tensors
    x_test, y_test = data.test.tensors
    assert x_train.shape[1:] == (1, 8, 8) and x_train.dtype == torch.float32
    assert float(x_train.min()) == 0.0 and float(x_train.max()) == 1.0  # raw 0..16 divided by 16
    # Stratified: every class holds 19 or 18 (test) of its ~180 images.
    assert torch.bincount(y_test, minlength=10).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    # Fixed: a second load gives the identical split.
    again = load_dataset("digits")
    assert torch.equal(again.test.tensors[0], x_test) and torch.equal(again.train.tensors[1], y_train)


def test_dataset_record_holds_shape_and_normalization_for_the_checkpoint():
    record = dataset_spec("digits").record()
    assert record["input_shape"] == [1, 8, 8]
    assert record["normalization"] == {"mean": [0.0], "std": [16.0]}
    assert dataset_spec("cifar10").record()["normalization"]["mean"] == [0.4914, 0.4822, 0.4465]


def _write_cifar_batch(path, images, labels, label_key="labels"):
    write_cifar_batch(path, images, labels, label_key)


def _write_cifar10(root, per_batch=3):
    return write_cifar10(root, per_batch)


def test_cifar10_reads_python_batches_and_normalizes_test_images(tmp_path):
    batches = _write_cifar10(tmp_path)
    data = load_dataset("cifar10", tmp_path)
    assert (len(data.train), len(data.test)) == (15, 3)
    image, label = data.test[1]
    raw, labels = batches["test_batch"]
    expected = (torch.from_numpy(raw[1]).float() / 255 - torch.tensor([0.4914, 0.4822, 0.4465])[:, None, None]) \
        / torch.tensor([0.2470, 0.2435, 0.2616])[:, None, None]
    assert label == labels[1]
    torch.testing.assert_close(image, expected, atol=1e-5, rtol=0)  # float32 rounding only
    # Training images go through crop/flip/AutoAugment/Cutout and keep their shape.
    torch.manual_seed(0)
    augmented, train_label = data.train[14]
    assert augmented.shape == (3, 32, 32) and train_label == batches["data_batch_5"][1][2]


def test_cifar100_reads_train_and_test_files_with_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    images = np.zeros((4, 3, 32, 32), dtype=np.uint8)
    _write_cifar_batch(folder / "train", images, [99, 1, 2, 3], label_key="fine_labels")
    _write_cifar_batch(folder / "test", images[:2], [5, 98], label_key="fine_labels")
    data = load_dataset("cifar100", tmp_path, train_augment=False)
    assert data.spec.num_classes == 100
    assert [data.train[0][1], data.test[1][1]] == [99, 98]


def test_cifar10_missing_root_names_the_expected_layout(tmp_path):
    with pytest.raises(DataError, match=r"cifar10: expected <root>/cifar-10-batches-py/data_batch_1..5 and test_batch"):
        load_dataset("cifar10", tmp_path / "nowhere")


class _Hostile:
    def __reduce__(self):
        return (open, ("/tmp/enof-hostile-cifar-ran", "w"))


def test_cifar10_hostile_or_malformed_batch_is_refused_without_running_code(tmp_path):
    _write_cifar10(tmp_path)
    target = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    with open(target, "wb") as handle:
        pickle.dump({"data": _Hostile(), "labels": [0]}, handle)
    marker = __import__("pathlib").Path("/tmp/enof-hostile-cifar-ran")
    marker.unlink(missing_ok=True)
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR python batch"):
        load_dataset("cifar10", tmp_path)
    assert not marker.exists()
    target.write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR python batch"):
        load_dataset("cifar10", tmp_path)


def test_cutout_zeroes_a_square_of_at_most_16_by_16_pixels():
    torch.manual_seed(3)
    out = Cutout(16)(torch.ones(3, 32, 32))
    zeros = (out[0] == 0)
    rows, cols = zeros.any(1).sum().item(), zeros.any(0).sum().item()
    assert 8 <= rows <= 16 and 8 <= cols <= 16  # clipped at the border to at least half
    assert zeros.sum().item() == rows * cols  # one rectangle, same on every channel
    assert torch.equal(out[0] == 0, out[2] == 0)


def test_events_to_frames_counts_every_event_in_its_time_bin_and_polarity():
    t = np.array([0, 10, 50, 99, 100, 199])
    x = np.array([1, 1, 5, 127, 0, 3])
    y = np.array([0, 0, 2, 127, 0, 4])
    p = np.array([1, 1, 0, 1, 0, 0])
    frames = events_to_frames(Events(t, x, y, p), timesteps=2, sensor_hw=(128, 128))
    assert frames.shape == (2, 2, 128, 128) and frames.sum() == 6  # no event is dropped
    assert frames[0, 1, 0, 1] == 2 and frames[0, 0, 2, 5] == 1 and frames[0, 1, 127, 127] == 1
    assert frames[1, 0, 0, 0] == 1 and frames[1, 0, 4, 3] == 1  # t=100 opens the second bin


def _write_dvs(root, per_class=3):
    rng = np.random.default_rng(1)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            n = 200
            write_events_npz(root / name / f"{i:04d}.npz", np.sort(rng.integers(0, 10_000, n)),
                             rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))


def test_cifar10dvs_npz_events_become_t_by_2_by_48_by_48_frames(tmp_path):
    _write_dvs(tmp_path)
    data = load_dataset("cifar10dvs", tmp_path, timesteps=4)
    assert (len(data.train), len(data.test)) == (20, 10)  # 3 per class: 2 train, 1 test
    frames, label = data.test[9]
    assert frames.shape == (4, 2, 48, 48) and label == 9
    # Resizing with area-like antialiasing keeps the event mass up to the scale factor (128/48)².
    assert float(frames.sum()) * (128 / 48) ** 2 == pytest.approx(200, rel=0.05)
    augmented, _ = data.train[0]
    assert augmented.shape == (4, 2, 48, 48)


def test_cifar10dvs_bad_root_or_file_gives_one_line_data_error(tmp_path):
    with pytest.raises(DataError, match="cifar10dvs: expected tonic's <root>/<class>/\\*.aedat4"):
        load_dataset("cifar10dvs", tmp_path)
    _write_dvs(tmp_path, per_class=2)
    (tmp_path / "cat" / "0000.npz").write_bytes(b"garbage")
    data = load_dataset("cifar10dvs", tmp_path, timesteps=2)
    with pytest.raises(DataError, match="0000.npz: not an event file"):
        data.train[3]  # cat = class 3, its first file
    # Format-true files with bad content: each refused naming the file and what was expected.
    cases = {
        "polarity 2; expected 0 (OFF) or 1 (ON)": ([1, 2], [5, 6], [5, 6], [0, 2]),
        "holds no events": ([], [], [], []),
        "outside the 128×128 sensor": ([1, 2], [5, 128], [5, 6], [0, 1]),
    }
    for message, (t, x, y, p) in cases.items():
        write_events_npz(tmp_path / "cat" / "0000.npz", t, x, y, p)
        with pytest.raises(DataError, match=re.escape(message)):
            data.train[3]
