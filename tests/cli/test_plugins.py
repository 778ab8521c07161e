"""Your own architecture (issue 10, deliverable 4): a module of the user's that calls
``register_architecture`` trains and exports through the console scripts, found by an ``enof.architectures``
entry point (enof-train) or by ``--plugin MODULE`` (enof-export)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from enof.errors import EnofError
from enof.trainer.models import ARCHITECTURES, build_model, register_architecture

BIN = Path(sys.executable).parent
PLUGIN = '''
"""A user's network: two convs, the second strided, each with BN and the run's activation."""
from torch import nn

from enof.trainer.models import register_architecture


def tiny_cnn(acts, *, in_channels=1, width=4):
    backbone = nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), acts(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(2 * width), acts(last=True),
    )
    return backbone, 2 * width


register_architecture("tiny_plugin_cnn", tiny_cnn, num_classes=10, input_shape=(1, 8, 8), description="a plugin's net")
'''


def _script(*args: str, pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath), "COLUMNS": "160"}
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def plugin_dirs(tmp_path):
    """(module folder holding tinyplug.py, folder holding an installed distribution whose entry point names it)."""
    modules, installed = tmp_path / "modules", tmp_path / "site"
    modules.mkdir()
    (modules / "tinyplug.py").write_text(PLUGIN)
    dist = installed / "tinyplug-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[enof.architectures]\ntiny = tinyplug\n")
    return modules, installed


def test_a_plugin_architecture_trains_by_entry_point_and_exports_by_plugin_flag(plugin_dirs, tmp_path):
    modules, installed = plugin_dirs
    trained = _script("enof-train", "--dataset", "digits", "--arch", "tiny_plugin_cnn", "-T", "2", "--epochs", "1",
                      "--teacher-epochs", "1", "--train-limit", "128", "--test-limit", "32", "--threads", "1",
                      "-o", str(tmp_path / "model.pt"), "--json", pythonpath=[modules, installed], cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert json.loads(trained.stdout)["arch"] == "tiny_plugin_cnn"
    without = _script("enof-export", str(tmp_path / "model.pt"), "--target", "loihi2", "-o", str(tmp_path / "b0"),
                      pythonpath=[], cwd=tmp_path)  # fmt: skip
    assert without.returncode == 1 and "tiny_plugin_cnn" in without.stderr and not (tmp_path / "b0").exists()
    exported = _script("enof-export", str(tmp_path / "model.pt"), "--target", "loihi2", "--plugin", "tinyplug",
                       "--calibrate", "8", "-o", str(tmp_path / "bundle"), "--json", pythonpath=[modules], cwd=tmp_path)  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert json.loads(exported.stdout)["partition"]["chip"]  # the plugin's LIFs run on the chip
    assert (tmp_path / "bundle" / "chip.nir").is_file()


def test_a_plugin_module_that_cannot_be_imported_is_one_line(tmp_path):
    done = _script("enof-export", str(tmp_path / "model.pt"), "--target", "loihi2", "--plugin", "no_such_plugin_module",
                   pythonpath=[], cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--plugin no_such_plugin_module: cannot be imported" in lines[0]


def _backbone(acts, *, width=2):
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), acts(last=True)), width


def test_register_architecture_builds_and_refuses_a_taken_name(monkeypatch):
    from enof.trainer.models import registry

    monkeypatch.setattr(registry, "ARCHITECTURES", dict(ARCHITECTURES))  # the registrations end with the test
    register_architecture("placeholder", _backbone, num_classes=3, input_shape=(1, 8, 8))
    register_architecture("placeholder", _backbone, num_classes=3, input_shape=(1, 8, 8))  # again: a no-op
    model = build_model("placeholder", timesteps=2, width=5)
    assert model.fc.out_features == 3 and model.fc.in_features == 5
    with pytest.raises(EnofError, match="'digits_cnn' is already registered"):
        register_architecture("digits_cnn", _backbone, num_classes=3, input_shape=(1, 8, 8))
