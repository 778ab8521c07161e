"""enof-run on an exported bundle: run.json, accuracy line, activity table; one-line errors with exit 1."""

import hashlib
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from enof.cli.run import app
from enof.formats.run_result import read_run_result
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle


def test_enof_run_writes_run_json_and_prints_accuracy_and_activity(digits_bundle, digits_test_set, tmp_path):
    bundle, _ = digits_bundle("loihi2")
    out = tmp_path / "runs" / "run.json"
    result = CliRunner().invoke(app, [str(bundle), "--limit", "12", "--batch-size", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    run = read_run_result(out)
    assert (run.samples, run.backend, run.precision) == (12, "fast", "fixed")
    assert f"accuracy {run.accuracy:.2%} on 12 test samples" in result.output
    for layer in run.layers:  # the activity table names every chip layer and its synops per sample
        assert layer.name in result.output
        assert f"{layer.synops / 12:,.0f}" in result.output
    # The CLI's test split is the loader's: the same as calling run_bundle on the first 12 test digits.
    images, labels = digits_test_set
    direct = run_bundle(open_bundle(bundle), images[:12], labels[:12], progress=False)
    assert (run.predictions, run.labels, run.layers) == (direct.predictions, direct.labels, direct.layers)


def test_enof_run_opens_the_bundle_once_and_reads_each_of_its_files_once(digits_bundle, tmp_path, count_reader_calls):
    # Loihi 1 (current mode) has every file, host_in.onnx too; run_bundle runs on what enof-run opened.
    bundle, _ = digits_bundle("loihi")
    reader_calls = count_reader_calls()
    result = CliRunner().invoke(app, [str(bundle), "--limit", "3", "-o", str(tmp_path / "run.json")])
    assert result.exit_code == 0, result.output
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    assert sorted(reader_calls.pop("file_sha256")) == sorted(bundle / name for name in files)  # each hashed once
    assert {name: len(args) for name, args in reader_calls.items()} == {name: 1 for name in reader_calls}


def test_enof_run_errors_are_one_line_with_exit_code_1(tmp_path):
    result = CliRunner().invoke(app, [str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nowhere" in lines[0]
    assert "Traceback" not in result.output


def test_enof_run_console_script_is_installed(digits_bundle, tmp_path):
    bundle, _ = digits_bundle("loihi2")
    exe = f"{sys.prefix}/bin/enof-run"
    out = tmp_path / "run.json"
    proc = subprocess.run([exe, str(bundle), "--limit", "3", "--precision", "float", "-o", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["precision"] == "float"


# --- issue 15: options and the output checked before any work ------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("nan", "--timeout nan: must be a finite number"),
    ("inf", "--timeout inf: must be a finite number"),
    ("-5", "--timeout -5.0: must be > 0"),
    ("0", "--timeout 0.0: must be > 0"),
])  # fmt: skip
def test_timeout_that_is_not_a_positive_finite_number_is_refused(digits_bundle, tmp_path, value, expected, one_line_error):
    bundle, _ = digits_bundle("loihi2")
    out = tmp_path / "run.json"
    one_line_error(CliRunner().invoke(app, [str(bundle), "--timeout", value, "-o", str(out)]), expected)
    assert not out.exists()


def test_output_is_checked_before_the_bundle_is_even_read(tmp_path, one_line_error):
    # The bundle does not exist: an error about -o shows the output was checked first.
    folder = tmp_path / "results"
    folder.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    missing = str(tmp_path / "no-bundle")
    one_line_error(CliRunner().invoke(app, [missing, "-o", str(folder)]),
                    f"-o {folder}: is a folder; give a file's path, e.g. {folder / 'run.json'}")  # fmt: skip
    one_line_error(CliRunner().invoke(app, [missing, "-o", str(a_file / "run.json")]),
                    f"{a_file} is a file, not a folder")  # fmt: skip
    one_line_error(CliRunner().invoke(app, [missing, "-o", "/dev/null"]), "-o /dev/null: is not a regular file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "results"] and not any(folder.iterdir())
    assert a_file.read_text() == "keep me"


def test_output_in_a_read_only_folder_is_refused_in_one_line(digits_bundle, refuses_read_only_output):
    bundle, _ = digits_bundle("loihi2")
    refuses_read_only_output("enof-run", bundle, "--limit", "3", name="run.json")


def test_a_static_bundle_on_an_event_data_set_is_refused_in_one_line(digits_bundle, tmp_path, one_line_error):
    from enof.datasets.event_formats import Events, write_nmnist_bin

    for split in ("Train", "Test"):
        for digit in range(10):
            (tmp_path / "NMNIST" / split / str(digit)).mkdir(parents=True)
            write_nmnist_bin(tmp_path / "NMNIST" / split / str(digit) / "0.bin", Events(*([[1]] * 2), [[3]], [[1]]))
    bundle, _ = digits_bundle("loihi2")
    result = CliRunner().invoke(app, [str(bundle), "--dataset", "nmnist", "--data-root", str(tmp_path),
                                      "-o", str(tmp_path / "run.json")])  # fmt: skip
    one_line_error(result, "manifest.json: the bundle takes static images, but nmnist is an event data set")
    assert not (tmp_path / "run.json").exists()


# --- issue 9: device, batch size and Lava workers -------------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["--batch-size", "x"], "--batch-size x: expected a whole number ≥ 1 or auto"),
    (["--batch-size", "0"], "--batch-size 0: expected a whole number ≥ 1 or auto"),
    (["--device", "tpu"], "--device 'tpu': expected auto, cpu, cuda or cuda:N"),
    (["--backend", "lava", "--device", "cuda"], "--device cuda: only the built-in simulator (--backend fast)"),
    (["--lava-workers", "2"], "--lava-workers 2: needs ≥ 1, and more than 1 only with --backend lava"),
])  # fmt: skip
def test_device_batch_and_worker_options_are_checked_in_one_line(digits_bundle, tmp_path, args, expected, one_line_error):
    bundle, _ = digits_bundle("loihi2")
    out = tmp_path / "run.json"
    one_line_error(CliRunner().invoke(app, [str(bundle), "--limit", "2", *args, "-o", str(out)]), expected)
    assert not out.exists()


def test_cuda_and_batch_size_auto_without_a_gpu_are_refused_in_one_line(digits_bundle, tmp_path, one_line_error):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the refusals need one without")
    bundle, _ = digits_bundle("loihi2")
    out = tmp_path / "run.json"
    one_line_error(CliRunner().invoke(app, [str(bundle), "--device", "cuda", "-o", str(out)]),
                   "--device cuda: torch", "sees no CUDA GPU here; use --device cpu or auto")  # fmt: skip
    one_line_error(CliRunner().invoke(app, [str(bundle), "--batch-size", "auto", "-o", str(out)]),
                   "--batch-size auto picks a batch from free CUDA memory")  # fmt: skip
    assert not out.exists()


@pytest.mark.cuda
def test_enof_run_on_cuda_writes_the_cpu_run_json(digits_bundle, tmp_path):
    from enof.cli.compare_runs import compare_runs

    bundle, _ = digits_bundle("loihi")
    for device in ("cpu", "cuda"):
        result = CliRunner().invoke(app, [str(bundle), "--limit", "40", "--batch-size", "auto" if device == "cuda" else "16",
                                          "--device", device, "-q", "-o", str(tmp_path / f"{device}.json")])  # fmt: skip
        assert result.exit_code == 0, result.output
    cpu, gpu = (read_run_result(tmp_path / f"{d}.json") for d in ("cpu", "cuda"))
    assert compare_runs(cpu, gpu).identical


def test_enof_run_parses_each_onnx_file_once_and_runs_it_from_those_bytes(digits_bundle, tmp_path, count_parses):
    """Loihi 1 (current mode): host_in.onnx and host_out.onnx are read once each: one ONNX parse (the interface
    check) and one ONNX Runtime session on the same bytes, never a path; their MACs come from the manifest, so
    nothing is loaded again to count them. manifest.json and placement.json are parsed once, the profile once."""
    bundle, _ = digits_bundle("loihi")
    calls = count_parses()
    result = CliRunner().invoke(app, [str(bundle), "--limit", "3", "-o", str(tmp_path / "run.json")])
    assert result.exit_code == 0, result.output
    graphs = {f"bytes {hashlib.sha256((bundle / name).read_bytes()).hexdigest()[:16]}"
              for name in ("host_in.onnx", "host_out.onnx")}  # fmt: skip
    assert sorted(calls["onnx"]) == sorted(graphs) and sorted(calls["onnxruntime"]) == sorted(graphs)
    assert len(calls["json"]) == len(set(calls["json"])) == 2, calls["json"]
    assert len(calls["toml"]) == 1, calls["toml"]
