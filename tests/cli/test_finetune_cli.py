"""enof-train finetune through typer's runner: the written checkpoint, --json, and one-line errors."""

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "exporter"))
from conftest import write_checkpoint  # noqa: E402  (the exporter's random-weight checkpoint writer)

from enof.cli.train import app  # noqa: E402
from enof.trainer.checkpoint import load_checkpoint  # noqa: E402

runner = CliRunner()  # click 8.2: result.stdout and result.stderr apart, result.output both


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ftcli") / "digits.pt", width=4)


def test_finetune_writes_the_tuned_checkpoint_and_reports_it_as_json(source, tmp_path):
    out = tmp_path / "tuned.pt"
    result = runner.invoke(app, ["finetune", str(source), "--target", "loihi2", "--epochs", "1",
                                 "--train-limit", "64", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    ckpt = load_checkpoint(out)
    assert report["model"] == str(out) and report["target"] == "loihi2" == ckpt.finetuned_for["target"]
    assert report["float_accuracy"] == ckpt.metrics["test_accuracy"]
    assert report["fixed_point_forward_accuracy"] == ckpt.metrics["quantized_test_accuracy"]
    assert len(report["history"]) == 1


def test_default_output_sits_beside_the_model(source):
    result = runner.invoke(app, ["finetune", str(source), "--target", "loihi", "--epochs", "1", "--train-limit", "32"])
    assert result.exit_code == 0, result.output + result.stderr
    expected = Path(source).with_name("digits-loihi-ft.pt")
    assert f"model written to {expected}" in result.stdout and expected.is_file()


@pytest.mark.parametrize("args, message", [
    (["--target", "nochip"], "unknown target 'nochip'"),
    (["--target", "loihi", "--lr", "-1"], "--lr -1.0: must be a finite number > 0"),
])  # fmt: skip
def test_bad_input_is_one_line_exit_1(source, tmp_path, args, message):
    out = tmp_path / "x.pt"
    result = runner.invoke(app, ["finetune", str(source), *args, "-o", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not out.exists()


def test_missing_model_is_one_line_exit_1(tmp_path):
    result = runner.invoke(app, ["finetune", str(tmp_path / "none.pt"), "--target", "loihi"])
    assert result.exit_code == 1 and "none.pt: no such checkpoint file" in result.stderr


def test_epochs_below_one_is_a_usage_error(source):
    assert runner.invoke(app, ["finetune", str(source), "--target", "loihi", "--epochs", "0"]).exit_code == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto is CUDA here: tests/trainer/test_finetune.py compares devices")
def test_device_cpu_gives_the_default_runs_checkpoint(source, tmp_path):
    """On a machine without CUDA, --device auto (the default) is the CPU: --device cpu writes the same weights,
    bit for bit, and the same accuracies."""
    runs = {}
    for name, extra in (("default", []), ("cpu", ["--device", "cpu"])):
        out = tmp_path / f"{name}.pt"
        result = runner.invoke(app, ["finetune", str(source), "--target", "loihi2", "--epochs", "1",
                                     "--train-limit", "64", "--lr", "0.05", "-o", str(out), *extra])
        assert result.exit_code == 0, result.output + result.stderr
        runs[name] = load_checkpoint(out)
    default, cpu = runs["default"], runs["cpu"]
    assert default.state_dict.keys() == cpu.state_dict.keys()
    assert all(torch.equal(default.state_dict[k], cpu.state_dict[k]) for k in default.state_dict)
    assert not torch.equal(default.state_dict["fc.weight"], load_checkpoint(source).state_dict["fc.weight"])
    assert default.metrics["quantized_test_accuracy"] == cpu.metrics["quantized_test_accuracy"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of a machine without a GPU")
@pytest.mark.parametrize("choice", ["cuda", "cuda:0"])
def test_device_cuda_without_a_gpu_is_one_line_and_writes_nothing(source, tmp_path, choice):
    out = tmp_path / "x.pt"
    result = runner.invoke(app, ["finetune", str(source), "--target", "loihi", "--device", choice, "-o", str(out)])
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0
    assert f"error: --device {choice}: torch sees no CUDA GPU here" in result.stderr
    assert "use --device cpu or auto" in result.stderr and not out.exists()


def test_device_is_in_the_help():
    result = runner.invoke(app, ["finetune", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "--device" in result.stdout and "cuda:N" in result.stdout
