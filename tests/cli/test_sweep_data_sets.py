"""enof-sweep on data sets read from files (issue 27): a small fake CIFAR-10 and a small N-MNIST in their real
formats, with --data-root, --device and --frame-size; each point's test split is the one enof-run reads for that
point's bundle (one loader), so an event data set is binned at each point's own T."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from enof.cli.run import app as run_app
from enof.cli.sweep import app as sweep_app
from enof.datasets.cifar import write_cifar10
from enof.formats.run_result import read_run_result

runner = CliRunner()
QUICK = ["--arch", "digits_cnn", "--target", "loihi2", "--weight-bits", "8", "--repact", "on", "--epochs", "1",
         "--teacher-epochs", "1", "--finetune-epochs", "1", "--device", "cpu", "--json"]


def _sweep(args) -> dict:
    threads = torch.get_num_threads()
    result = runner.invoke(sweep_app, [*QUICK, *map(str, args)])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def _same_as_enof_run(point, data_root, tmp_path) -> None:
    """The point's run.json equals enof-run's of the point's bundle on the same root (predictions and every
    layer's counts: integers, tolerance 0)."""
    out = tmp_path / f"{point.name}.run.json"
    done = runner.invoke(run_app, [str(point / "bundle"), "--data-root", str(data_root), "-q", "-o", str(out)])
    assert done.exit_code == 0, done.output
    swept, ran = read_run_result(point / "run.json"), read_run_result(out)
    assert (swept.predictions, swept.labels, swept.layers) == (ran.predictions, ran.labels, ran.layers)


def test_a_sweep_on_a_fake_cifar10_root_reads_it_with_data_root(tmp_path):
    write_cifar10(tmp_path / "cifar", per_batch=4)
    report = _sweep(["--dataset", "cifar10", "--data-root", tmp_path / "cifar", "--timesteps", "1",
                     "-o", tmp_path / "sweep"])
    point = report["points"]["T1-w8-repact-on"]
    assert point["test_samples"] == 4  # the fake root's test_batch, not digits' 360
    manifest = json.loads((tmp_path / "sweep/seed0/points/T1-w8-repact-on/bundle/manifest.json").read_text())
    assert manifest["dataset"]["name"] == "cifar10" and manifest["dataset"]["input_shape"] == [3, 32, 32]
    _same_as_enof_run(tmp_path / "sweep/seed0/points/T1-w8-repact-on", tmp_path / "cifar", tmp_path)


def test_a_sweep_on_event_data_bins_the_recordings_at_each_points_own_t(tmp_path, nmnist_root):
    root = nmnist_root
    report = _sweep(["--dataset", "nmnist", "--data-root", root, "--frame-size", "8", "--timesteps", "1,3",
                     "-o", tmp_path / "sweep"])
    assert [p["test_samples"] for p in report["points"].values()] == [10, 10]
    for t in (1, 3):
        point = tmp_path / "sweep" / "seed0" / "points" / f"T{t}-w8-repact-on"
        manifest = json.loads((point / "bundle" / "manifest.json").read_text())
        assert manifest["timesteps"] == t and manifest["dataset"]["input_shape"] == [2, 8, 8]
        assert read_run_result(point / "run.json").timesteps == t
        _same_as_enof_run(point, root, tmp_path)
