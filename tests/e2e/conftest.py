"""Whole-chain fixtures: `cli`, one console script run as a user runs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run_console_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run one console script; fail the test with its output when it does not exit 0."""
    exe = shutil.which(args[0], path=str(BIN)) or args[0]
    env = {**os.environ, "COLUMNS": "160"}
    done = subprocess.run([exe, *args[1:]], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done



@pytest.fixture(scope="session")
def cli():
    """``cli(script, *args, cwd=folder)``: the installed console script; the test fails with its output
    when it does not exit 0."""
    return run_console_script


@pytest.fixture(scope="session")
def mnist5k_model(tmp_path_factory, cli) -> Path:
    """model.pt of the short mnist5k schedule (1,000 training images, mnist_cnn T = 2, 3 + 3 epochs, seed 1), trained
    once for every whole-chain test that starts from it (test_mnist5k_chain, test_netx_chain): minutes each time."""
    root = tmp_path_factory.mktemp("mnist5k-model")
    cli("enof-train", "--dataset", "mnist5k", "--arch", "mnist_cnn", "-T", "2", "--train-limit", "1000", "--batch-size", "32",
        "--epochs", "3", "--teacher-epochs", "3", "--seed", "1", "-o", "model.pt", cwd=root)  # fmt: skip
    return root / "model.pt"
