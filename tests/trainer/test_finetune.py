"""Quantization-aware fine-tuning (enof.trainer.finetune): its forward runs on the exporter's integers.

Random-weight digits_cnn (width 8) with BatchNorm statistics far from identity (the exporter's
fixtures), a short fine-tune on a 128-image subset: what is tested is bookkeeping, not accuracy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "exporter"))
from conftest import write_checkpoint  # noqa: E402  (the exporter's fixture writer: one definition)

from enof.errors import EnofError  # noqa: E402
from enof.exporter.export import prepare_export  # noqa: E402
from enof.exporter.finetune_target import ExportQuantizer  # noqa: E402
from enof.exporter.graph import NeuronParams, capture  # noqa: E402
from enof.fixed_point_rules import weight_value  # noqa: E402
from enof.hardware_profiles import load_profile  # noqa: E402
from enof.trainer.checkpoint import build_model_from_checkpoint, load_checkpoint  # noqa: E402
from enof.trainer.finetune import FinetuneConfig, QuantizedForward, finetune, parameter_targets  # noqa: E402

TARGETS = ("loihi", "loihi2")  # current-mode input (host-in conv) and graded input


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("ft") / "digits.pt", width=8)


@pytest.fixture(scope="module", params=TARGETS)
def tuned(request, source, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"ft-{request.param}") / "tuned.pt"
    torch.manual_seed(0)
    result = finetune(FinetuneConfig(str(source), request.param, epochs=1, train_limit=128, lr=0.05, out=str(out)), ExportQuantizer)
    return request.param, result


def _integers(quant) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in quant.arrays().items() if not k.endswith(".scale") and k != "input.scale"}


def test_training_quantizer_gives_the_exporters_integers_for_the_tuned_weights(tuned):
    """The fine-tuner's fake-quant of the written checkpoint == prepare_export's quant.npz, integer for
    integer (exact: same weights, same calibration batch, same functions), and the scales are equal."""
    target, result = tuned
    ckpt = load_checkpoint(result.model_path)
    model = build_model_from_checkpoint(ckpt)
    quantizer = ExportQuantizer(ckpt, load_profile(target), 32)
    state = quantizer.state(model)
    exported = prepare_export(result.model_path, target, calibrate=32).quant
    mine, theirs = _integers(state.quant), _integers(exported)
    assert mine.keys() == theirs.keys() and any(k.endswith(".weight_int") for k in mine)
    for key in mine:
        np.testing.assert_array_equal(mine[key], theirs[key], err_msg=key)
    assert state.quant.input_scale == exported.input_scale
    assert {n: q.scale for n, q in state.quant.lifs.items()} == {n: q.scale for n, q in exported.lifs.items()}
    # the forward the fine-tuner trains through takes the same input scale
    assert QuantizedForward(model, quantizer).refresh().input_scale == exported.input_scale


def test_fine_tuning_changes_the_weights_and_the_integers(tuned, source):
    """One epoch at lr 0.05 moves the weights: the test above is not comparing an untouched copy."""
    target, result = tuned
    before = prepare_export(source, target, calibrate=32).quant
    after = prepare_export(result.model_path, target, calibrate=32).quant
    changed = sum(int(np.count_nonzero(before.weight_int[k] != after.weight_int[k])) for k in before.weight_int)
    assert changed > 0


@pytest.mark.parametrize("target", TARGETS)
def test_override_targets_fold_into_the_integer_weights_and_biases(source, target):
    """The parameter targets, folded by the exporter's own capture (BN folding), give the float values of
    the integers: weights to 1e-5 of their largest value, biases likewise (float32 parameters)."""
    ckpt = load_checkpoint(source)
    model = build_model_from_checkpoint(ckpt)
    quantizer = ExportQuantizer(ckpt, load_profile(target), 32)
    state = quantizer.state(model)
    targets = parameter_targets(model, quantizer.chip_values(model))
    assert targets, "no parameter was fake-quantized"
    with torch.no_grad():
        for name, value in targets.items():
            model.get_parameter(name).copy_(value)
    graph = capture(model, (1, 8, 8), ckpt.timesteps, NeuronParams(float(ckpt.neuron["decay"]), float(ckpt.neuron["v_threshold"])))
    quant = state.quant
    for lif_name, lq in quant.lifs.items():
        sources = [s for s in state.graph.nodes[lif_name].sources if s in quant.weight_int]
        if not sources:  # the LIF fed by the host-in current (Loihi 1): its conv stays float on the host
            continue
        for name in sources:
            in_scale = quant.input_scale if state.graph.spiking_source(graph.nodes[name].sources[0]) == "input" else 1.0
            expected = weight_value(quant.weight_int[name].astype(np.float64), 0, lq.scale, in_scale)
            got = graph.nodes[name].weight.astype(np.float64)
            assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max(), name
        bias = sum(graph.nodes[s].bias.astype(np.float64) for s in sources)
        expected_bias = (lq.bias_mant * 2.0**lq.bias_exp / lq.scale).reshape(bias.shape[0], -1)[:, 0]
        assert np.abs(bias - expected_bias).max() <= 1e-5 * max(np.abs(expected_bias).max(), 1.0), lif_name


def test_tuned_checkpoint_records_its_target_and_loads_with_weights_only(tuned, source):
    target, result = tuned
    raw = torch.load(result.model_path, weights_only=True)
    assert raw["finetuned_for"]["target"] == load_profile(target).name
    ckpt = load_checkpoint(result.model_path)
    assert ckpt.finetuned_for["epochs"] == 1 and ckpt.finetuned_for["profile_sha256"] == load_profile(target).sha256
    assert load_checkpoint(source).finetuned_for is None  # a float-only checkpoint has none
    assert len(result.history) == 1 and 0.0 <= result.quantized_accuracy <= 1.0


def test_bad_settings_are_one_line_errors(source, tmp_path):
    with pytest.raises(EnofError, match="--epochs must be >= 1"):
        finetune(FinetuneConfig(str(source), "loihi", epochs=0, out=str(tmp_path / "x.pt")), ExportQuantizer)
    with pytest.raises(EnofError, match="--lr"):
        finetune(FinetuneConfig(str(source), "loihi", lr=float("nan"), out=str(tmp_path / "x.pt")), ExportQuantizer)
    assert not (tmp_path / "x.pt").exists()


def test_fine_tuning_with_fewer_weight_bits_trains_on_that_grid(source, tmp_path):
    """--weight-bits 4 on Loihi 2: the fake-quant integers are multiples of 2^(9−4) = 32 (Lava's 4-bit
    MIXED grid) and the checkpoint records the bits to export with."""
    out = tmp_path / "bits4.pt"
    result = finetune(FinetuneConfig(str(source), "loihi2", epochs=1, train_limit=64, weight_bits=4, out=str(out)), ExportQuantizer)
    ckpt = load_checkpoint(out)
    assert ckpt.finetuned_for["weight_bits"] == 4
    state = ExportQuantizer(ckpt, load_profile("loihi2"), 32, None, 4).state(build_model_from_checkpoint(ckpt))
    assert all(np.all(w % 32 == 0) for w in state.quant.weight_int.values())
    assert result.history and not (tmp_path / "bits9.pt").exists()
    with pytest.raises(EnofError, match="--weight-bits 9: the loihi2 profile's synapses take 2 to 8"):
        finetune(FinetuneConfig(str(source), "loihi2", weight_bits=9, out=str(tmp_path / "bits9.pt")), ExportQuantizer)


def _flat(state: dict) -> torch.Tensor:
    return torch.cat([state[k].double().flatten() for k in sorted(state)])


@pytest.mark.cuda
@pytest.mark.parametrize("target", TARGETS)
def test_finetune_on_cuda_matches_the_cpu(source, tmp_path, target):
    """Two SGD steps (128 images, batch 64, lr 0.05) on cuda and on the CPU, the checkpoint saved on the CPU.
    Tolerance: cuDNN sums float32 in another order (TF32 off), ~1e-6 relative per op; that can flip a spike
    or a weight's rounding only where a value sits within ~1e-6 of a threshold or a rounding edge, a few
    entries of the update, so the two updates agree to 10 % of the update's norm (a device-placement bug —
    targets, teacher or batches left on the CPU, a lost step — moves it by its whole size or fails)."""
    runs = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / f"{device}.pt"
        torch.manual_seed(0)
        runs[device] = finetune(FinetuneConfig(str(source), target, epochs=1, train_limit=128, lr=0.05, out=str(out),
                                               device=device), ExportQuantizer)
        assert all(t.device.type == "cpu" for t in load_checkpoint(out).state_dict.values())
    start = _flat(load_checkpoint(source).state_dict)
    cpu, gpu = (_flat(load_checkpoint(runs[d].model_path).state_dict) for d in ("cpu", "cuda"))
    assert (gpu - cpu).norm() <= 0.1 * (cpu - start).norm() and (cpu - start).norm() > 0
    # the fixed-point forward's test accuracy: a flipped spike may change a few of digits' 360 test images
    assert abs(runs["cuda"].quantized_accuracy - runs["cpu"].quantized_accuracy) <= 5 / 360
