"""enof-run --inputs FILE.npy|.npz on the digits bundle: the same answers as the data set, labels optional,
raw or --normalized values, and one-line errors for every malformed file."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from enof.cli.run import app
from enof.datasets.digits import SPEC as DIGITS
from enof.formats.run_result import read_run_result

SAMPLES = 10


@pytest.fixture(scope="module")
def reference(digits_bundle, digits_test_set, tmp_path_factory):
    """The bundle, and the run.json of its first SAMPLES digits test samples read from the data set."""
    bundle, _ = digits_bundle("loihi2")
    out = tmp_path_factory.mktemp("reference") / "run.json"
    result = CliRunner().invoke(app, [str(bundle), "--limit", str(SAMPLES), "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return bundle, read_run_result(out)


def _run(bundle, *args):
    return CliRunner().invoke(app, [str(bundle), "-q", *map(str, args)])


def test_raw_npz_with_labels_gives_the_data_sets_predictions_counts_and_accuracy(reference, digits_test_set, tmp_path):
    bundle, expected = reference
    images, labels = digits_test_set
    raw = (images[:SAMPLES] * DIGITS.std[0]).astype(np.float64)  # back to 0..16: enof-run divides by std again
    np.savez(tmp_path / "mine.npz", inputs=raw, labels=labels[:SAMPLES].astype(np.int32))
    result = _run(bundle, "--inputs", tmp_path / "mine.npz", "-o", tmp_path / "run.json")
    assert result.exit_code == 0, result.output
    run = read_run_result(tmp_path / "run.json")
    # Exactly equal: x·16/16 is exact in binary floating point, so the chip sees the same integers.
    assert (run.predictions, run.labels, run.accuracy) == (expected.predictions, expected.labels, expected.accuracy)
    assert (run.layers, run.cores) == (expected.layers, expected.cores)
    assert f"accuracy {run.accuracy:.2%} on {SAMPLES} samples" in result.output


def test_normalized_npy_without_labels_has_null_accuracy_and_the_same_predictions(reference, digits_test_set, tmp_path):
    bundle, expected = reference
    np.save(tmp_path / "mine.npy", digits_test_set[0][:SAMPLES])
    result = _run(bundle, "--inputs", tmp_path / "mine.npy", "--normalized", "-o", tmp_path / "run.json")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "run.json").read_text())
    assert (written["accuracy"], written["labels"]) == (None, None)
    run = read_run_result(tmp_path / "run.json")
    assert run.predictions == expected.predictions and run.layers == expected.layers
    assert "no labels, no accuracy" in result.output


def test_limit_applies_to_an_inputs_file(reference, digits_test_set, tmp_path):
    bundle, expected = reference
    np.save(tmp_path / "mine.npy", digits_test_set[0][:SAMPLES])
    result = _run(bundle, "--inputs", tmp_path / "mine.npy", "--normalized", "--limit", 4, "-o", tmp_path / "run.json")
    assert result.exit_code == 0, result.output
    assert read_run_result(tmp_path / "run.json").predictions == expected.predictions[:4]


def _bad_files(folder):
    good = np.zeros((3, 1, 8, 8), np.float32)
    nan = good.copy()
    nan[2, 0, 3, 3] = np.nan
    inf = good.copy()
    inf[1, 0, 0, 0] = np.inf
    cases = {
        "ints.npy": (np.zeros((3, 1, 8, 8), np.int64), "dtype int64; expected a float array"),
        "rank.npy": (np.zeros((3, 8, 8), np.float32), "3 dimensions (3, 8, 8); expected 4: (N, 1, 8, 8)"),
        "shape.npy": (np.zeros((3, 1, 9, 8), np.float32), "shape (3, 1, 9, 8); expected (N, 1, 8, 8)"),
        "empty.npy": (np.zeros((0, 1, 8, 8), np.float32), "shape (0, 1, 8, 8); expected (N, 1, 8, 8) with N ≥ 1"),
        "nan.npy": (nan, "sample 2 holds NaN or Inf"),
        "inf.npy": (inf, "sample 1 holds NaN or Inf"),
    }
    for name, (array, _) in cases.items():
        np.save(folder / name, array)
    np.savez(folder / "short.npz", inputs=good, labels=np.array([1, 2]))
    np.savez(folder / "classes.npz", inputs=good, labels=np.array([1, 10, 2]))
    np.savez(folder / "float_labels.npz", inputs=good, labels=np.array([1.0, 2.0, 3.0]))
    np.savez(folder / "no_inputs.npz", x=good)
    (folder / "text.npy").write_text("not numpy")
    return {
        **{name: why for name, (_, why) in cases.items()},
        "short.npz": "2 labels for 3 inputs; expected one label per input",
        "classes.npz": "labels[1] = 10, outside the bundle's classes 0..9",
        "float_labels.npz": "labels of dtype float64 and shape (3,); expected integer class indices (3,)",
        "no_inputs.npz": "no 'inputs' array (it holds x)",
        "text.npy": "cannot read as .npy",
        "images.png": "expected a .npy or .npz file",
    }


def test_every_malformed_inputs_file_is_one_line_naming_it_and_writes_nothing(reference, tmp_path, one_line_error):
    bundle, _ = reference
    for name, why in _bad_files(tmp_path).items():
        out = tmp_path / f"{name}.run.json"
        result = _run(bundle, "--inputs", tmp_path / name, "-o", out)
        one_line_error(result, f"--inputs {tmp_path / name}: ", why)
        assert not out.exists(), name


def test_inputs_with_a_data_set_or_normalized_without_inputs_are_refused(reference, tmp_path, one_line_error):
    bundle, _ = reference
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), np.float32))
    one_line_error(_run(bundle, "--inputs", tmp_path / "x.npy", "--dataset", "digits", "-o", tmp_path / "a.json"),
                   "--inputs replaces --dataset")
    one_line_error(_run(bundle, "--normalized", "-o", tmp_path / "b.json"), "--normalized describes an --inputs file")
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("target", ["loihi2", "loihi"])  # graded event input, and binary spikes (Loihi 1)
def test_negative_event_counts_are_refused_and_counts_of_zero_or_more_run(event_bundle, tmp_path, one_line_error, target):
    bundle, _ = event_bundle(target)
    frames = np.random.default_rng(3).integers(0, 3, (4, 2, 2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "counts.npy", frames)
    assert _run(bundle, "--inputs", tmp_path / "counts.npy", "-o", tmp_path / "ok.json").exit_code == 0
    frames[2, 1, 0, 3, 4] = -1.0
    np.save(tmp_path / "negative.npy", frames)
    out = tmp_path / "negative.json"
    one_line_error(_run(bundle, "--inputs", tmp_path / "negative.npy", "-o", out),
                   f"--inputs {tmp_path / 'negative.npy'}: sample 2 holds a negative value (-1.0); event frames are "
                   "counts of events per pixel and step, ≥ 0")
    assert not out.exists()


def test_damaged_misnamed_and_oversized_inputs_files_are_one_line(reference, tmp_path, one_line_error):
    """Issue 27's tracebacks: a truncated, random or CRC-damaged .npz; an 'inputs' member that is not an array;
    an .npz under a .npy name and the reverse; a header declaring 6.4e12 values (23.3 TiB) over a few bytes."""
    import zipfile

    bundle, _ = reference
    x = np.zeros((3, 1, 8, 8), np.float32)
    np.savez(tmp_path / "good.npz", inputs=x)
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(0).bytes(500))
    crc = bytearray(data)
    crc[data.index(b"NUMPY") + 120] ^= 0xFF  # a byte of the array's data: the CRC no longer matches
    (tmp_path / "crc.npz").write_bytes(bytes(crc))
    with zipfile.ZipFile(tmp_path / "bytes.npz", "w") as archive:
        archive.writestr("inputs", b"hello")
    np.savez(tmp_path / "npz.npy", inputs=x)
    (tmp_path / "npz.npy.npz").rename(tmp_path / "npz.npy")
    np.save(tmp_path / "npy.npz", x)
    (tmp_path / "npy.npz.npy").rename(tmp_path / "npy.npz")
    with open(tmp_path / "huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (10**11, 1, 8, 8)})
        f.write(bytes(64))
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.write(tmp_path / "huge.npy", "inputs.npy")
    cases = {
        "truncated.npz": "cannot read as .npz (File is not a zip file)",
        "random.npz": "not a NumPy file",
        "crc.npz": "cannot read as .npz (Bad CRC-32 for file 'inputs.npy')",
        "bytes.npz": "member 'inputs' is not a .npy array",
        "npz.npy": "a .npz file under a .npy name; rename it to npz.npz",
        "npy.npz": "a .npy file under a .npz name; rename it to npy.npy",
        "huge.npy": "declares shape (100000000000, 1, 8, 8) of float32 (23.3 TiB) but the file holds 64.0 B of data",
        "huge.npz": "['inputs']: its header declares shape (100000000000, 1, 8, 8) of float32 (23.3 TiB)",
    }
    for name, why in cases.items():
        out = tmp_path / f"{name}.json"
        one_line_error(_run(bundle, "--inputs", tmp_path / name, "-o", out), f"--inputs {tmp_path / name}", why)
        assert not out.exists(), name


def test_inputs_of_3e38_are_not_blamed_on_lava_on_the_built_in_simulator(reference, tmp_path, one_line_error):
    bundle, _ = reference
    np.save(tmp_path / "big.npy", np.full((2, 1, 8, 8), 3e38, np.float32))
    result = _run(bundle, "--inputs", tmp_path / "big.npy", "-o", tmp_path / "big.json")
    one_line_error(result, "exceeds int32", "the inputs reach the ends of the chip's input range: check their scale")
    assert "Lava's Conv model" not in result.stderr and not (tmp_path / "big.json").exists()
