"""Options out of range are refused before any work (issue 27): seeds outside 0..2^32−1, a T no bundle can hold,
a data set that needs --data-root given none; and no command writes into docs/ unless told to."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from enof.cli.export import app as export_app
from enof.cli.train import app as train_app

sys.path.insert(0, str(Path(__file__).parents[1] / "exporter"))
from conftest import write_checkpoint  # noqa: E402  (the exporter's random-weight checkpoint writer)

runner = CliRunner()


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed -1: a seed is a whole number from 0 to 4294967295 (2^32 − 1)"),
    (["--seed", str(2**70)], f"--seed {2**70}: a seed is a whole number from 0 to 4294967295"),
    (["--timesteps", "16777217"], "--timesteps 16777217: T must be from 1 to 16777216"),
])  # fmt: skip
def test_enof_train_refuses_seeds_and_t_out_of_range(tmp_path, one_line_error, args, message):
    one_line_error(runner.invoke(train_app, [*args, "-o", str(tmp_path / "m.pt")]), message)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("seed", ["-1", str(2**70)])
def test_finetune_refuses_a_seed_out_of_range(tmp_path, one_line_error, seed):
    model = write_checkpoint(tmp_path / "m.pt", width=4)
    result = runner.invoke(train_app, ["finetune", str(model), "--target", "loihi2", "--seed", seed,
                                       "-o", str(tmp_path / "ft.pt")])  # fmt: skip
    one_line_error(result, f"--seed {seed}: a seed is a whole number from 0 to 4294967295")
    assert not (tmp_path / "ft.pt").exists()


def test_ablation_refuses_t_out_of_range(tmp_path, one_line_error):
    result = runner.invoke(train_app, ["ablation", "--timesteps", "1,16777217", "-o", str(tmp_path / "a.md")])
    one_line_error(result, "--timesteps 16777217: T must be from 1 to 16777216")


def test_export_refuses_a_t_above_the_bundle_maximum_before_reading_the_graph(tmp_path, one_line_error):
    (tmp_path / "g.nir").write_bytes(b"")  # never read: the option is checked first
    result = runner.invoke(export_app, [str(tmp_path / "g.nir"), "--target", "loihi2", "--timesteps", "16777217"])
    one_line_error(result, "--timesteps 16777217: T must be from 1 to 16777216 (float32 counts T spikes exactly")


def test_export_of_a_cifar_checkpoint_without_data_root_is_refused_before_the_graph_is_built(tmp_path, one_line_error,
                                                                                          monkeypatch):
    import enof.exporter.export as export_module

    model = write_checkpoint(tmp_path / "cifar.pt", dataset="cifar10", width=4, in_channels=3)
    monkeypatch.setattr(export_module, "capture", lambda *a, **k: pytest.fail("the graph was built first"))
    result = runner.invoke(export_app, [str(model), "--target", "loihi2", "-o", str(tmp_path / "b")])
    one_line_error(result, "cifar10: needs --data-root, the folder holding its files (it is never downloaded)")
    assert not (tmp_path / "b").exists()


def test_ablation_writes_under_runs_by_default_not_into_docs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    result = runner.invoke(train_app, ["ablation", "--seeds", "1", "--timesteps", "1", "--epochs", "1",
                                       "--teacher-epochs", "1", "--width", "4", "--threads", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "docs").iterdir()) == []
    assert (tmp_path / "runs" / "ablation-digits.md").is_file() and (tmp_path / "runs" / "ablation-digits.json").is_file()
