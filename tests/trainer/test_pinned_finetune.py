"""Fine-tuning numbers that digits_cnn cannot reach, pinned: a residual block whose shortcut is an average
pool folded into a 1×1 conv (the unfold multiplies the folded per-tap weight back by k² = 4) and whose
output LIF is fed by two weight layers (the LIF's one quantized bias goes to the first source only), and
Loihi 1's spike input (event counts rounded and clipped to one spike, exactly as enof-run's chip program
does for the exported bundle).

Through the fine-tuner's entry points (ExportQuantizer, parameter_targets, QuantizedForward), checkpoints
written by the trainer's own writer, a registered architecture (register_architecture, as a plugin would),
and a CIFAR10-DVS root of real .aedat4 files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parents[1] / "exporter"))
from conftest import randomize_batchnorm  # noqa: E402  (the exporter fixtures' BN statistics far from identity)

from enof.datasets import dataset_spec  # noqa: E402
from enof.datasets.cifar_dvs import CLASSES as DVS_CLASSES  # noqa: E402
from enof.datasets.event_formats import Events, write_aedat4  # noqa: E402
from enof.exporter.export import export_bundle  # noqa: E402
from enof.exporter.finetune_target import ExportQuantizer  # noqa: E402
from enof.exporter.graph import NeuronParams, capture  # noqa: E402
from enof.fixed_point_rules import bias_value, weight_value  # noqa: E402
from enof.hardware_profiles import load_profile  # noqa: E402
from enof.runtime.bundle import open_bundle  # noqa: E402
from enof.trainer.checkpoint import Checkpoint, build_model_from_checkpoint, load_checkpoint, save_checkpoint, versions  # noqa: E402
from enof.trainer.finetune import QuantizedForward, parameter_targets  # noqa: E402
from enof.trainer.models import build_model, register_architecture  # noqa: E402
from enof.trainer.models.blocks import BasicBlock, conv3x3  # noqa: E402
from enof.trainer.neurons import NeuronConfig  # noqa: E402

ARCH = "pinned_pooled_block"
BLOCK = "backbone.3"  # module path of the BasicBlock; its shortcut is Sequential(AvgPool2d(2), Conv2d 1×1, BN)


def pinned_pooled_block(acts, *, in_channels: int = 1, width: int = 4):
    """conv3×3 → BN → LIF, then a BasicBlock(w → 2w, stride 2): its act2 sums conv2 and the pooled shortcut."""
    backbone = nn.Sequential(conv3x3(in_channels, width), nn.BatchNorm2d(width), acts(),
                             BasicBlock(width, 2 * width, 2, acts(), acts()))  # fmt: skip
    return backbone, 2 * width


register_architecture(ARCH, pinned_pooled_block, num_classes=10, input_shape=(1, 8, 8), description="tests: pooled shortcut")


def _checkpoint(path: Path, dataset, **arch_kwargs) -> Checkpoint:
    torch.manual_seed(1)
    model = randomize_batchnorm(build_model(ARCH, timesteps=2, neuron=NeuronConfig(), num_classes=10, **arch_kwargs), seed=1)
    save_checkpoint(Checkpoint(arch=ARCH, arch_kwargs={"num_classes": 10, **arch_kwargs}, neuron=NeuronConfig().to_dict(),
                               timesteps=2, repact=False, state_dict=model.state_dict(), dataset=dataset, seed=1,
                               versions=versions()), path)  # fmt: skip
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def block_on_loihi2(tmp_path_factory):
    """(checkpoint, model, neuron parameters, QuantState, targets) of the pooled block on digits for Loihi 2."""
    ckpt = _checkpoint(tmp_path_factory.mktemp("block") / "block.pt", dataset_spec("digits"))
    model = build_model_from_checkpoint(ckpt)
    quantizer = ExportQuantizer(ckpt, load_profile("loihi2"), 32)
    neuron = NeuronParams(float(ckpt.neuron["decay"]), float(ckpt.neuron["v_threshold"]))
    return ckpt, model, neuron, quantizer.state(model), parameter_targets(model, quantizer.chip_values(model))


def _folded_weight_value(state, name: str, lif: str) -> np.ndarray:
    quant = state.quant
    return weight_value(quant.weight_int[name].astype(np.float64), quant.weight_exp.get(name, 0),
                        quant.lifs[lif].scale, 1.0)  # spikes in: input scale 1


def test_pooled_shortcut_target_is_k_squared_times_the_folded_tap_over_the_bn_factor(block_on_loihi2):
    """AvgPool2d(2) + conv 1×1 folds to a 2×2 kernel of w/4 (stride 2): each folded tap is w·γ/σ/4. The
    target of the 1×1 conv's own weight is therefore 4 · tap / (γ/σ), and all four taps of a kernel agree."""
    _, model, _, state, targets = block_on_loihi2
    folded = _folded_weight_value(state, "stage1.block0.shortcut", "stage1.block0.act2")
    assert folded.shape == (8, 4, 2, 2)
    for dy, dx in ((0, 1), (1, 0), (1, 1)):  # the integers of one pooled kernel are one value
        np.testing.assert_array_equal(folded[:, :, dy, dx], folded[:, :, 0, 0])
    norm = model.get_submodule(f"{BLOCK}.shortcut.2")
    factor = (norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)).detach().numpy()
    target = targets[f"{BLOCK}.shortcut.1.weight"].double().numpy()
    assert target.shape == (8, 4, 1, 1)
    np.testing.assert_allclose(target[:, :, 0, 0], 4.0 * folded[:, :, 0, 0] / factor[:, None], rtol=1e-6)


def test_targets_folded_again_by_the_exporter_give_the_integers_of_both_sources_of_the_join(block_on_loihi2):
    """Copy the targets into the model, capture it again (BN and pool folded by the exporter): each source of
    act2 gives back the float value of its integers (1e-5 of the largest: float32 parameters)."""
    ckpt, model, neuron, state, targets = block_on_loihi2
    tuned = build_model_from_checkpoint(ckpt)
    with torch.no_grad():
        for name, value in targets.items():
            tuned.get_parameter(name).copy_(value)
    graph = capture(tuned, (1, 8, 8), ckpt.timesteps, neuron)
    for name in ("stage1.block0.conv2", "stage1.block0.shortcut"):
        expected = _folded_weight_value(state, name, "stage1.block0.act2")
        got = graph.nodes[name].weight.astype(np.float64)
        assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max(), name


def test_a_join_lifs_bias_goes_to_its_first_source_and_the_sum_is_the_quantized_bias(block_on_loihi2):
    """act2 = LIF(bn2(conv2(·)) + shortcut(·)): one quantized bias per LIF. The first source (conv2 → bn2)
    takes b_q − (the shortcut's folded bias); the shortcut BN keeps its own β (no target). Folded again, the two
    biases sum to the quantized bias per channel."""
    ckpt, model, neuron, state, targets = block_on_loihi2
    assert state.graph.nodes["stage1.block0.act2"].sources == ("stage1.block0.conv2", "stage1.block0.shortcut")
    assert f"{BLOCK}.bn2.bias" in targets and f"{BLOCK}.shortcut.2.bias" not in targets
    tuned = build_model_from_checkpoint(ckpt)
    with torch.no_grad():
        for name, value in targets.items():
            tuned.get_parameter(name).copy_(value)
    graph = capture(tuned, (1, 8, 8), ckpt.timesteps, neuron)
    lq = state.quant.lifs["stage1.block0.act2"]
    quantized = bias_value(lq.bias_mant.astype(np.float64), lq.bias_exp, lq.scale).reshape(8, -1)[:, 0]
    shortcut_bias = graph.nodes["stage1.block0.shortcut"].bias.astype(np.float64)
    assert np.abs(shortcut_bias).min() > 1e-3  # the shortcut's own bias is not zero: the split matters
    total = graph.nodes["stage1.block0.conv2"].bias.astype(np.float64) + shortcut_bias
    np.testing.assert_allclose(total, quantized, rtol=1e-5, atol=1e-6)


# ---- Loihi 1 spike input: event counts rounded and clipped to one spike


def _cifar10dvs_root(root: Path) -> Path:
    rng = np.random.default_rng(5)
    for name in DVS_CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(2):
            n = 600
            events = Events(np.sort(rng.integers(0, 200_000, n)), rng.integers(0, 128, n), rng.integers(0, 128, n),
                            rng.integers(0, 2, n))  # fmt: skip
            write_aedat4(root / name / f"cifar10_{name}_{i}.aedat4", events, (128, 128))
    return root


@pytest.fixture(scope="module")
def spikes_checkpoint_and_bundle(tmp_path_factory):
    """The pooled block on CIFAR10-DVS binned to 16×16, fine-tuner side and an exported Loihi 1 bundle."""
    work = tmp_path_factory.mktemp("dvs")
    root = _cifar10dvs_root(work / "data")
    path = work / "dvs.pt"
    ckpt = _checkpoint(path, dataset_spec("cifar10dvs", (16, 16)), in_channels=2)
    bundle = export_bundle(path, "loihi", work / "bundle", calibrate=4, data_root=root).out_dir
    return ckpt, root, bundle


SPIKE_CASES = [(0.0, 0), (0.49, 0), (0.5, 0), (0.51, 1), (1.0, 1), (1.5, 1), (2.5, 1), (7.0, 1)]  # round half to even


def test_spikes_mode_fake_quant_clips_counts_to_one_spike_exactly_as_the_exported_bundle(spikes_checkpoint_and_bundle):
    """The counts the first conv sees in the fine-tuner's forward == ChipProgram.quantize_input of the
    exported Loihi 1 bundle == clip(round(x), 0, 1) by hand (0.5 → 0: both round half to even)."""
    ckpt, root, bundle = spikes_checkpoint_and_bundle
    program = open_bundle(bundle).program
    assert program.input_mode == "spikes"
    qmodel = QuantizedForward(build_model_from_checkpoint(ckpt), ExportQuantizer(ckpt, load_profile("loihi"), 4, root))
    assert qmodel.refresh().input_mode == "spikes"
    values = torch.tensor([v for v, _ in SPIKE_CASES], dtype=torch.float32)
    x = values.repeat(2 * 2 * 2 * 16 * 16 // len(values)).reshape(2, 2, 2, 16, 16)  # (T, B, 2, 16, 16)
    seen = []
    hook = qmodel.model.get_submodule("backbone.0").register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    try:
        qmodel(x)
    finally:
        hook.remove()
    fine_tuner = seen[0].reshape(x.shape).numpy()
    chip = program.quantize_input(x.numpy())
    np.testing.assert_array_equal(fine_tuner, chip)
    by_hand = np.array([s for _, s in SPIKE_CASES], np.float32)
    np.testing.assert_array_equal(fine_tuner.reshape(-1)[: len(SPIKE_CASES)], by_hand)


def test_spikes_mode_gradient_passes_straight_through_the_clip(spikes_checkpoint_and_bundle):
    """Straight-through: d(input seen)/dx = 1 for every count, clipped or not (x + (q − x).detach())."""
    ckpt, root, _ = spikes_checkpoint_and_bundle
    qmodel = QuantizedForward(build_model_from_checkpoint(ckpt), ExportQuantizer(ckpt, load_profile("loihi"), 4, root))
    qmodel.refresh()
    x = torch.full((2, 1, 2, 16, 16), 2.5, requires_grad=True)
    seen = []
    hook = qmodel.model.get_submodule("backbone.0").register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        qmodel(x)
    finally:
        hook.remove()
    seen[0].sum().backward()
    assert bool((x.grad == 1.0).all())
