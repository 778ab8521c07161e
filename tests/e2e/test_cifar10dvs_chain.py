"""Event data through the whole chain: a CIFAR10-DVS root of .aedat4 recordings (tonic's layout, written per
the AEDAT 4 spec) → enof-train → enof-export --target loihi2 → enof-run on both backends → enof-energy.

It proves that temporal input (T, 2, 48, 48) reaches the chip a new frame every step on both backends, bit for
bit, with its events counted; not accuracy (a 1-epoch net on 20 synthetic recordings is at chance). Loihi 1
has no graded spikes: its export refuses event input in one line. About 30 s on 2 cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from enof.datasets.cifar_dvs import CLASSES
from enof.datasets.event_formats import Events, write_aedat4

BIN = Path(sys.executable).parent


def _write_root(root: Path, per_class: int = 2, events: int = 20_000) -> None:
    """Per class a 32-px square of events in a class-specific row band, drifting right over 200 ms."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            t = np.sort(rng.integers(0, 200_000, events))
            x = (rng.integers(0, 32, events) + t * 96 // 200_000) % 128
            y = (rng.integers(0, 32, events) + label * 10) % 128
            write_aedat4(root / name / f"cifar10_{name}_{i}.aedat4", Events(t, x, y, rng.integers(0, 2, events)), (128, 128))


def test_cifar10dvs_aedat4_bundle_runs_on_lava_and_the_built_in_simulator_alike(tmp_path, cli):
    _write_root(tmp_path / "dvs")
    cli("enof-train", "--dataset", "cifar10dvs", "--data-root", "dvs", "--arch", "mnist_cnn", "--width", "4", "-T", "4", "--seed", "0",
        "--epochs", "1", "--teacher-epochs", "1", "--batch-size", "10", "-o", "model.pt", cwd=tmp_path)  # fmt: skip
    cli("enof-export", "model.pt", "--target", "loihi2", "--data-root", "dvs", "-o", "bundle", cwd=tmp_path)
    cli("enof-run", "bundle", "--data-root", "dvs", "-q", "-o", "fast.json", cwd=tmp_path)
    cli("enof-run", "bundle", "--data-root", "dvs", "--backend", "lava", "-q", "-o", "lava.json", cwd=tmp_path)
    # Tolerance: none. Both run the same integers; every prediction and count must agree.
    assert "identical" in cli("enof-compare", "lava.json", "fast.json", cwd=tmp_path).stdout
    run = json.loads((tmp_path / "fast.json").read_text())
    assert run["samples"] == 10 and run["timesteps"] == 4  # one test recording per class
    assert all(layer["spikes"] > 0 for layer in run["layers"])  # not vacuous: every layer fires
    assert run["layers"][0]["synops"] > 0  # the first layer's synops are the input events it received
    assert "Energy per inference" in cli("enof-energy", "fast.json", cwd=tmp_path).stdout
    refused = subprocess.run([str(BIN / "enof-export"), "model.pt", "--target", "loihi", "--data-root", "dvs",
                              "-o", "bundle-loihi"], cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert refused.returncode == 1 and "temporal input" in refused.stderr + refused.stdout
    assert len((refused.stderr + refused.stdout).strip().splitlines()) == 1
    assert not (tmp_path / "bundle-loihi").exists()
