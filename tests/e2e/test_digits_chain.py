"""The whole chain as a user runs it, through the console scripts: enof-train → enof-export (loihi and
loihi2) → enof-run (built-in simulator and Lava) → enof-compare → enof-energy, on a digits model that
is really trained (a short schedule, so the suite stays fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

@pytest.fixture(scope="module")
def trained(tmp_path_factory, cli):
    """A digits EnOF SNN (T = 2, L_AF + RepAct) trained briefly by enof-train, exported for both targets."""
    root = tmp_path_factory.mktemp("chain")
    out = cli("enof-train", "--dataset", "digits", "--arch", "digits_cnn", "-T", "2", "--epochs", "8",
              "--teacher-epochs", "5", "--seed", "1", "-o", "model.pt", cwd=root)  # fmt: skip
    assert "test accuracy" in out.stdout
    for target in ("loihi", "loihi2"):
        cli("enof-export", "model.pt", "--target", target, "-o", f"bundle-{target}", cwd=root)
    return root


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_fixed_point_accuracy_is_within_one_point_of_float_on_the_whole_test_set(trained, cli):
    # The promise for deployment: quantizing to the chip's integers costs at most 1 point of
    # accuracy on the digits test set (360 images: 1 point is ~3.6 images).
    cli("enof-run", "bundle-loihi", "--precision", "fixed", "-o", "fixed.json", cwd=trained)
    cli("enof-run", "bundle-loihi", "--precision", "float", "-o", "float.json", cwd=trained)
    fixed, flt = read(trained / "fixed.json"), read(trained / "float.json")
    assert fixed["samples"] == flt["samples"] == 360
    assert flt["accuracy"] > 0.9, "the briefly trained model should already classify digits"
    assert abs(fixed["accuracy"] - flt["accuracy"]) <= 0.01


@pytest.mark.parametrize("target", ["loihi", "loihi2"])
def test_lava_fixed_pt_and_built_in_simulator_agree_bit_for_bit_on_the_digits_bundle(trained, target, cli):
    # Exact equality (tolerance 0): both run the same integer arithmetic. enof-compare checks every
    # prediction and every per-layer and per-core spike, synop and neuron-update count.
    bundle = f"bundle-{target}"
    cli("enof-run", bundle, "--backend", "lava", "--limit", "24", "--timeout", "300", "-o", f"lava-{target}.json", cwd=trained)
    cli("enof-run", bundle, "--backend", "fast", "--limit", "24", "-o", f"fast-{target}.json", cwd=trained)
    out = cli("enof-compare", f"lava-{target}.json", f"fast-{target}.json", cwd=trained)
    assert "identical" in out.stdout
    lava = read(trained / f"lava-{target}.json")
    assert lava["samples"] == 24 and lava["backend"] == "lava"
    assert sum(layer["spikes"] for layer in lava["layers"]) > 0, "a silent network would agree trivially"


def test_energy_report_prices_the_run_and_writes_the_plot(trained, cli):
    cli("enof-run", "bundle-loihi", "--limit", "60", "-o", "run.json", cwd=trained)
    cli("enof-energy", "run.json", "--plot", "energy.png", "--format", "json", "-o", "energy.json", cwd=trained)
    png = (trained / "energy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    report = read(trained / "energy.json")
    text = json.dumps(report)
    for model in ("davies2018", "kerasspiking_loihi", "horowitz45nm"):
        assert model in text


def pytorch_lif_spikes(model, x, names: dict[str, str], timesteps: int) -> dict:
    """Spikes (T, B, *shape) of the model's LIF modules, per layer name of `names` (layer name → module path), read with forward hooks."""
    import torch

    from enof.trainer.models import repeat_over_time

    seen = {}
    modules = dict(model.named_modules())
    hooks = [modules[names[n]].register_forward_hook(lambda m, i, out, n=n: seen.__setitem__(n, out.detach())) for n in names]
    try:
        with torch.no_grad():
            model(repeat_over_time(torch.from_numpy(x), timesteps))
    finally:
        for hook in hooks:
            hook.remove()
    return {n: seen[n].reshape(timesteps, x.shape[0], *seen[n].shape[1:]).numpy() for n in names}


@pytest.mark.parametrize("target", ["loihi2", "loihi"])
def test_lava_floating_pt_agrees_with_the_trained_pytorch_snn_on_999_per_mille_of_spikes(trained, target, cli):
    """Both ends of the equivalence chain: the network as trained (PyTorch, Norse LIFs) and as deployed
    (the exported bundle on Lava's float models), on the same digits test images."""
    from enof.runtime.host import open_session, run_host_in
    from enof.runtime.lava.backend import run_lava
    from enof.runtime.bundle import open_bundle
    from enof.trainer.checkpoint import build_model_from_checkpoint, load_checkpoint
    from enof.datasets import load_dataset

    model = build_model_from_checkpoint(load_checkpoint(trained / "model.pt")).eval()
    test = load_dataset("digits", train_augment=False).test
    images = np.stack([np.asarray(test[i][0], np.float32) for i in range(24)])
    bundle = open_bundle(trained / f"bundle-{target}")
    program = bundle.program
    chip_input = images
    if program.input_mode == "current":  # Loihi 1: the host computes the analog first layer
        chip_input = run_host_in(open_session(bundle.file("host_in.onnx")), images)
    lava = run_lava(program, chip_input, precision="float", timeout_s=300)
    reference = pytorch_lif_spikes(model, images, {n: bundle.manifest.module_paths[n] for n in program.layers}, program.timesteps)
    # Tolerance 0.1 %: Lava's float models compute in float64, PyTorch in float32 (and the Norse LIF
    # scales its input by 1/(1 − decay) and back: one float32 rounding), so a membrane within ~1e-7
    # of the threshold may land on either side. A structural error (delays, layouts, BN folding,
    # weights) would disagree on far more than 0.1 % of the spikes.
    for name in program.outputs:
        ours, theirs = lava.outputs[name], reference[name]
        assert ours.shape == theirs.shape
        assert theirs.mean() > 0.05, "a silent layer would agree trivially"
        assert (ours == theirs).mean() >= 0.999
    for name, spikes in reference.items():  # every chip layer's spike count, counted inside Lava
        assert abs(int(lava.spike_counts[name].sum()) - int(spikes.sum())) <= 0.001 * spikes.size
