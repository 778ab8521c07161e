"""Every command's exit codes (README "Exit codes"): 1 for invalid input (one `error:` line on stderr),
2 for a usage error that click reports, and the codes stated in each --help."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from enof.cli import compare_runs, energy, export, run, train

APPS = {"enof-train": train.app, "enof-export": export.app, "enof-run": run.app, "enof-energy": energy.app,
        "enof-compare": compare_runs.app}


def _data_error_args(command: str, missing: str) -> list[str]:
    """Arguments that parse but name input that is not there."""
    return {
        "enof-train": ["--dataset", "cifar10", "--arch", "resnet20", "--data-root", missing],
        "enof-export": [missing, "--target", "loihi"],
        "enof-run": [missing],
        "enof-energy": [missing],
        "enof-compare": [missing, missing],
    }[command]


@pytest.mark.parametrize("command", APPS)
def test_invalid_input_is_exit_1_with_one_error_line(command, tmp_path, one_line_error):
    missing = str(tmp_path / "missing")
    one_line_error(CliRunner().invoke(APPS[command], _data_error_args(command, missing)), missing)


@pytest.mark.parametrize("command", APPS)
def test_an_unknown_option_is_a_usage_error_exit_2(command, tmp_path):
    result = CliRunner().invoke(APPS[command], [*_data_error_args(command, str(tmp_path / "x")), "--no-such-option"])
    assert result.exit_code == 2, result.output
    assert "No such option: --no-such-option" in result.stderr and "error: " not in result.stderr


@pytest.mark.parametrize("command, args", [
    ("enof-export", []),                               # the checkpoint argument is missing
    ("enof-compare", ["a.json"]),                      # the second run is missing
    ("enof-run", ["bundle", "--backend", "nope"]),    # not a choice
    ("enof-train", ["--epochs", "many"]),             # not an integer
])  # fmt: skip
def test_a_missing_argument_or_a_value_click_cannot_convert_is_exit_2(command, args):
    assert CliRunner().invoke(APPS[command], args).exit_code == 2


@pytest.mark.parametrize("command", APPS)
def test_every_help_states_the_exit_codes(command):
    shown = CliRunner().invoke(APPS[command], ["--help"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0
    text = " ".join(shown.stdout.split())  # rich wraps and pads the epilog
    assert "Exit codes: 0 " in text and "; 1 " in text and "; 2 usage error" in text, text


def test_the_installed_script_exits_with_the_same_codes(tmp_path):
    script = f"{sys.prefix}/bin/enof-compare"
    missing = str(tmp_path / "missing.json")
    data_error = subprocess.run([script, missing, missing], capture_output=True, text=True, timeout=120)
    usage_error = subprocess.run([script, missing, missing, "--nope"], capture_output=True, text=True, timeout=120)
    assert (data_error.returncode, usage_error.returncode) == (1, 2), (data_error.stderr, usage_error.stderr)
