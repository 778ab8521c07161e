"""run_bundle on bundles from the real chain (trainer checkpoint → export_bundle → run_bundle)."""

import numpy as np
import pytest
import torch

from enof.errors import RunError
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle
from enof.trainer.models import repeat_over_time


@pytest.mark.parametrize("target", ["loihi2", "loihi"])  # graded input, and host-in current
def test_float_chain_predicts_what_the_float_model_predicts(digits_bundle, digits_test_set, target):
    # host_in → float chip simulator → host_out reproduces the model's logits to ~1e-7 (float32 in both,
    # different op order), so every prediction agrees unless two logits tie within that: none do here.
    bundle, model = digits_bundle(target)
    images, labels = digits_test_set
    with torch.no_grad():
        logits = model(repeat_over_time(torch.from_numpy(images), model_timesteps(bundle))).logits.numpy()
    result = run_bundle(open_bundle(bundle), images, labels, precision="float", batch_size=16, progress=False)
    assert result.predictions == logits.argmax(axis=1).tolist()
    assert result.accuracy == pytest.approx(float((logits.argmax(axis=1) == labels).mean()))
    assert open_bundle(bundle).program.input_mode == ("graded" if target == "loihi2" else "current")


def model_timesteps(bundle):
    return open_bundle(bundle).program.timesteps


def test_run_result_counts_are_consistent_and_independent_of_batch_size(digits_bundle, digits_test_set):
    bundle, _ = digits_bundle("loihi2")
    images, labels = digits_test_set
    small = run_bundle(open_bundle(bundle), images, labels, batch_size=7, progress=False)
    large = run_bundle(open_bundle(bundle), images, labels, batch_size=64, progress=False)
    assert (small.predictions, small.layers, small.cores, small.host) == (large.predictions, large.layers, large.cores, large.host)
    program = open_bundle(bundle).program
    n, steps = len(images), program.timesteps
    for layer in small.layers:
        mine = [c for c in small.cores if c.layer == layer.name]
        assert layer.cores == len(mine) >= 1
        assert layer.neuron_updates == program.layers[layer.name].neurons * steps * n
        assert sum(c.spikes for c in mine) == layer.spikes > 0
        assert sum(c.synops for c in mine) == layer.synops > 0
    # a static image crosses host→chip once per sample (held in the input neurons' biases for the T steps), each
    # graded value in ceil(24 / 8) = 3 bytes, not once per step; chip→host one bit per output neuron per step;
    # loihi2's digits net has no host-in layer and a host-out classifier.
    outputs = sum(program.layers[o].neurons for o in program.outputs)
    assert steps == 2 and small.host.bytes_host_to_chip == 64 * 3
    assert small.host.bytes_chip_to_host == -(-outputs * steps // 8)
    assert small.host.host_in_macs == 0 and small.host.host_out_macs > 0
    assert small.bundle == str(bundle.resolve()) and small.backend == "fast" and small.samples == n


def test_lava_backend_gives_the_fast_simulators_result(digits_bundle, digits_test_set):
    # Bit-exact backends: predictions and every count equal, not approximately.
    bundle, _ = digits_bundle("loihi")
    images, labels = digits_test_set
    fast = run_bundle(open_bundle(bundle), images[:4], labels[:4], backend="fast", progress=False)
    lava = run_bundle(open_bundle(bundle), images[:4], labels[:4], backend="lava", timeout_s=300, progress=False)
    assert lava.backend == "lava"
    assert (lava.predictions, lava.layers, lava.cores) == (fast.predictions, fast.layers, fast.cores)


def test_inputs_that_do_not_match_the_bundle_are_run_errors(digits_bundle, digits_test_set):
    bundle, _ = digits_bundle("loihi2")
    images, labels = digits_test_set
    with pytest.raises(RunError, match=r"inputs of shape \(3, 3, 8, 8\) do not match the bundle's \(N, 1, 8, 8\)"):
        run_bundle(open_bundle(bundle), np.zeros((3, 3, 8, 8), np.float32), labels[:3], progress=False)
    with pytest.raises(RunError, match="5 inputs but 4 labels"):
        run_bundle(open_bundle(bundle), images[:5], labels[:4], progress=False)
    with pytest.raises(RunError, match="unknown backend 'loihi'"):
        run_bundle(open_bundle(bundle), images[:2], labels[:2], backend="loihi", progress=False)


def test_program_from_bundle_names_a_missing_quant_entry(digits_bundle, tmp_path):
    from enof.errors import BundleError
    from enof.runtime.chip_nir import program_from_bundle

    bundle, _ = digits_bundle("loihi2")
    with np.load(bundle / "quant.npz") as data:
        arrays = {k: data[k] for k in data.files if k != "act1.vth"}
    np.savez(tmp_path / "quant.npz", **arrays)
    with pytest.raises(BundleError, match=r"quant.npz: missing 'act1.vth' for LIF 'act1'"):
        program_from_bundle(bundle / "chip.nir", tmp_path / "quant.npz", 2, 24)
    (tmp_path / "chip.nir").write_bytes(b"truncated")
    with pytest.raises(BundleError, match="chip.nir: cannot read NIR"):
        program_from_bundle(tmp_path / "chip.nir", bundle / "quant.npz", 2, 24)


def test_a_batch_whose_spike_raster_cannot_fit_in_memory_is_refused_before_running(digits_bundle, digits_test_set, monkeypatch):
    # loihi2 digits: T = 2 steps of 256 output neurons, float32: 2 KiB of raster per sample.
    import enof.runtime.run as run_module

    bundle, _ = digits_bundle("loihi2")
    images, labels = digits_test_set
    memory = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 1}  # a machine of 4 KiB
    monkeypatch.setattr(run_module.os, "sysconf", memory.__getitem__)
    with pytest.raises(RunError, match=r"T = 2 steps of 256 output neurons for a batch of 8 need 16\.0 KiB of spike raster, "
                                       r"more than this machine's 4\.0 KiB; lower --batch-size to 2 or less$"):
        run_bundle(open_bundle(bundle), images[:8], labels[:8], batch_size=8, progress=False)
    assert run_bundle(open_bundle(bundle), images[:8], labels[:8], batch_size=2, progress=False).samples == 8
    memory["SC_PAGE_SIZE"] = 1000
    with pytest.raises(RunError, match="even one sample does not fit: re-export with fewer timesteps$"):
        run_bundle(open_bundle(bundle), images[:8], labels[:8], batch_size=1, progress=False)


def test_a_bundle_whose_manifest_says_event_input_sets_the_temporal_program_or_names_the_mode_that_can(
    digits_bundle, digits_test_set, tmp_path
):
    """dataset.temporal makes the opened program take (T, C, H, W) samples (graded input, Loihi 2); a current-mode
    (Loihi 1) bundle cannot take event input (constant over T), and the one-line error names the mode that can."""
    import json
    import shutil

    from enof.errors import BundleError

    for target in ("loihi2", "loihi"):
        bundle = tmp_path / target
        shutil.copytree(digits_bundle(target)[0], bundle)
        manifest = json.loads((bundle / "manifest.json").read_text())
        manifest["dataset"]["temporal"] = True
        (bundle / "manifest.json").write_text(json.dumps(manifest))
        if target == "loihi":
            with pytest.raises(BundleError, match=r"manifest\.json: field 'input_mode' is 'current', but the loihi profile "
                                                  r"has no graded spikes \(expected spikes for event data\)$"):
                open_bundle(bundle)
            continue
        opened = open_bundle(bundle)
        assert opened.program.input_temporal and opened.program.sample_shape == (2, 1, 8, 8)
        images, labels = digits_test_set
        frames = np.repeat(images[:4, None], 2, axis=1)  # the static images as 2 equal frames: the static run
        temporal = run_bundle(opened, frames, labels[:4], progress=False)
        static = run_bundle(open_bundle(digits_bundle("loihi2")[0]), images[:4], labels[:4], progress=False)
        assert (temporal.predictions, temporal.layers) == (static.predictions, static.layers)
        with pytest.raises(RunError, match=r"do not match the bundle's \(N, 2, 1, 8, 8\) \(T event frames per sample\)"):
            run_bundle(opened, images[:4], labels[:4], progress=False)
