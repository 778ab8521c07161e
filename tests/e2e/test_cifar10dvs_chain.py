"""Event data through the whole chain: a CIFAR10-DVS root of .aedat4 recordings (tonic's layout, written per
the AEDAT 4 spec) → enof-train → enof-export for loihi2 and loihi → enof-run on both backends → enof-energy.

It proves that temporal input (T, 2, H, W), here binned to 44×52 (--frame-size) instead of the data set's own
48×48, reaches the chip a new frame every step on both backends, bit for bit, with its events counted and priced:
as graded spikes on Loihi 2, as binary spikes (counts clipped to 1) on Loihi 1, which has no graded spikes. Not accuracy (a 1-epoch net on 20 synthetic recordings is at chance:
docs/event-input.md measures the clipping's accuracy effect). About 40 s on 2 cores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from enof.datasets.cifar_dvs import CLASSES
from enof.datasets.event_formats import Events, write_aedat4


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


@pytest.fixture(scope="module")
def dvs_model(tmp_path_factory, cli):
    root = tmp_path_factory.mktemp("cifar10dvs")
    _write_root(root / "dvs")
    cli("enof-train", "--dataset", "cifar10dvs", "--data-root", "dvs", "--arch", "mnist_cnn", "--width", "4", "-T", "4", "--seed", "0",
        "--frame-size", "44x52",
        "--epochs", "1", "--teacher-epochs", "1", "--batch-size", "10", "-o", "model.pt", cwd=root)  # fmt: skip
    return root


@pytest.mark.parametrize("target, mode", [("loihi2", "graded"), ("loihi", "spikes")])
def test_cifar10dvs_aedat4_bundle_runs_on_lava_and_the_built_in_simulator_alike(dvs_model, cli, target, mode):
    root = dvs_model
    bundle, fast, lava = f"bundle-{target}", f"fast-{target}.json", f"lava-{target}.json"
    cli("enof-export", "model.pt", "--target", target, "--data-root", "dvs", "-o", bundle, cwd=root)
    manifest = json.loads((root / bundle / "manifest.json").read_text())
    assert manifest["input_mode"] == mode
    assert manifest["dataset"]["input_shape"] == [2, 44, 52]  # --frame-size, height × width, kept to the runtime
    cli("enof-run", bundle, "--data-root", "dvs", "-q", "-o", fast, cwd=root)
    cli("enof-run", bundle, "--data-root", "dvs", "--backend", "lava", "-q", "-o", lava, cwd=root)
    # Tolerance: none. Both run the same integers; every prediction and count must agree.
    assert "identical" in cli("enof-compare", lava, fast, cwd=root).stdout
    run = json.loads((root / fast).read_text())
    assert run["samples"] == 10 and run["timesteps"] == 4  # one test recording per class
    assert all(layer["spikes"] > 0 for layer in run["layers"])  # not vacuous: every layer fires
    assert run["layers"][0]["synops"] > 0  # the first layer's synops are the input events it received
    energy = json.loads(cli("enof-energy", fast, "--format", "json", cwd=root).stdout)
    first = energy["layers"][0]  # the input events are priced: the first layer's synops, as graded events or not
    assert first["synops_per_inference"] > 0 and any(m["synops_pj"] for m in first["energy"].values())
    assert first["graded_input"] is (mode == "graded")
