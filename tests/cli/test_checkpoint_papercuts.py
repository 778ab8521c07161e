"""Checkpoints the older checks let through (issue 27), each now one line naming the file and the field, and
their valid neighbours still accepted: integer weights (digest recomputed), a garbled ``finetuned_for``, an
SNN given as --teacher, and a plugin's architecture exported without --plugin (the hint names the plugin)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from enof.cli.export import app as export_app
from enof.cli.train import app as train_app
from enof.trainer.checkpoint import load_checkpoint, save_checkpoint

sys.path.insert(0, str(Path(__file__).parents[1] / "exporter"))
from conftest import write_checkpoint  # noqa: E402  (the exporter's random-weight checkpoint writer)

runner = CliRunner()
SHA = "0" * 64
TUNED = {"target": "loihi2", "profile_sha256": SHA, "epochs": 1, "lr": 0.002, "calibrate": 32, "seed": 0,
         "weight_bits": 8, "source_sha256": SHA, "source_test_accuracy": 0.9}


def _export(model, out):
    return runner.invoke(export_app, [str(model), "--target", "loihi2", "--calibrate", "0", "-o", str(out)])


def test_integer_weights_are_refused_even_with_a_recomputed_digest(tmp_path, one_line_error):
    ckpt = load_checkpoint(write_checkpoint(tmp_path / "m.pt", width=4))
    name = next(k for k in ckpt.state_dict if k.endswith("weight"))
    weights = {**ckpt.state_dict, name: ckpt.state_dict[name].round().to(torch.int32)}
    save_checkpoint(dataclasses.replace(ckpt, state_dict=weights), tmp_path / "int.pt")
    one_line_error(_export(tmp_path / "int.pt", tmp_path / "b"), f"state_dict tensor '{name}' is int32; a network's "
                   "weights are floating point")
    assert not (tmp_path / "b").exists()
    assert _export(tmp_path / "m.pt", tmp_path / "ok").exit_code == 0  # float32 and BN's int64 counter: accepted


@pytest.mark.parametrize("field, value, expected", [
    ("target", 5, "is 5; expected a profile name"),
    ("epochs", 0, "is 0; expected a whole number ≥ 1"),
    ("lr", float("nan"), "is nan; expected a finite learning rate > 0"),
    ("profile_sha256", "abc", "is 'abc'; expected a sha256 hex digest"),
    ("source_test_accuracy", 7.5, "is 7.5; expected null or an accuracy from 0 to 1"),
    ("seed", None, "is missing"),
])  # fmt: skip
def test_a_garbled_finetuned_for_is_refused_on_load(tmp_path, one_line_error, field, value, expected):
    ckpt = load_checkpoint(write_checkpoint(tmp_path / "m.pt", width=4))
    record = {k: v for k, v in TUNED.items() if not (k == field and value is None)}
    if value is not None:
        record[field] = value
    save_checkpoint(dataclasses.replace(ckpt, finetuned_for=record), tmp_path / "tuned.pt")
    one_line_error(_export(tmp_path / "tuned.pt", tmp_path / "b"), f"checkpoint field 'finetuned_for.{field}' {expected}")
    save_checkpoint(dataclasses.replace(ckpt, finetuned_for=TUNED), tmp_path / "good.pt")
    assert load_checkpoint(tmp_path / "good.pt").finetuned_for == TUNED


def test_an_snn_checkpoint_as_teacher_is_refused(tmp_path, one_line_error):
    snn = write_checkpoint(tmp_path / "snn.pt", width=4)
    result = runner.invoke(train_app, ["--teacher", str(snn), "--width", "4", "--epochs", "1", "--train-limit", "32",
                                       "-o", str(tmp_path / "m.pt")])  # fmt: skip
    one_line_error(result, f"{snn}: a teacher is an ANN checkpoint (mode 'ann'", "this one is mode 'snn'")
    assert not (tmp_path / "m.pt").exists()


def test_a_plugin_checkpoint_exported_without_plugin_names_the_plugin_file(tmp_path, one_line_error):
    ckpt = load_checkpoint(write_checkpoint(tmp_path / "m.pt", width=4))
    foreign = dataclasses.replace(ckpt, arch="tiny_cnn_x", train_config={"arch_module": "/home/me/nets/mynets.py"})
    save_checkpoint(foreign, tmp_path / "plugin.pt")
    one_line_error(_export(tmp_path / "plugin.pt", tmp_path / "b"), "checkpoint field 'arch' is 'tiny_cnn_x', not one "
                   "of", "made known by --plugin /home/me/nets/mynets.py (the module that registered it in training)")
    save_checkpoint(dataclasses.replace(foreign, train_config={}), tmp_path / "plain.pt")
    one_line_error(_export(tmp_path / "plain.pt", tmp_path / "b"), "--plugin with the module or .py file that calls "
                   "register_architecture, or by an installed package's 'enof.architectures' entry point")
