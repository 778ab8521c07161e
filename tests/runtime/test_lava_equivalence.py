"""The product's promise: the Lava backend and the fast simulator run the same ChipProgram to the same spikes.

Each test launches the real Lava worker (lava-nc 0.10.0, Loihi2SimCfg) on small programs with a
residual block (relay-aligned), a strided conv and a dense layer; a launch costs ~2 s.
"""

from __future__ import annotations

import numpy as np
import pytest

from enof.runtime.fast import simulate
from enof.runtime.lava.backend import run_lava
from enof.runtime.program import INPUT, ChipProgram, LifLayer, Synapse


def _assert_same_spikes(lava_run, fast_run, program):
    for name in program.outputs:
        assert lava_run.outputs[name].shape == fast_run.outputs[name].shape, name
        np.testing.assert_array_equal(lava_run.outputs[name], fast_run.outputs[name], err_msg=name)
    for name in program.layers:
        np.testing.assert_array_equal(lava_run.spike_counts[name], fast_run.spike_counts[name], err_msg=name)
    np.testing.assert_array_equal(lava_run.input_nonzero, fast_run.input_nonzero)


@pytest.mark.parametrize("input_mode", ["graded", "current"])
def test_lava_fixed_pt_equals_fast_fixed_on_residual_strided_dense_program(random_program, random_inputs, input_mode):
    """Tolerance: none. Both compute Lava's fixed-point integer arithmetic; every spike must agree."""
    program = random_program(input_mode=input_mode, seed=3)
    _assert_fixed_equal_and_firing(program, random_inputs(program, batch=4, seed=3))


def _assert_fixed_equal_and_firing(program, x):
    """Lava fixed_pt and the fast simulator give the same spikes, and every layer fires (not everywhere)."""
    lava_run = run_lava(program, x, "fixed", timeout_s=120)
    fast_run = simulate(program, x, "fixed")
    _assert_same_spikes(lava_run, fast_run, program)
    # the comparison is not vacuous: every layer fires, and not everywhere
    for name in program.layers:
        rate = fast_run.spike_counts[name].sum() / (program.layers[name].neurons * program.timesteps * len(x))
        assert 0.02 < rate < 0.9, (name, rate)


@pytest.mark.parametrize("input_mode", ["graded", "current"])
def test_lava_floating_pt_agrees_with_fast_float_on_at_least_999_per_mille_of_spikes(
    random_program, random_inputs, input_mode
):
    """Tolerance: >= 99.9 % of output spikes and of summed counts.

    Lava's float models compute in float64 with its own summation order (scipy convolve2d), the fast
    simulator in float32 (torch): a voltage within rounding of the threshold may flip a spike.
    """
    program = random_program(input_mode=input_mode, seed=4)
    x = random_inputs(program, batch=4, seed=4)
    lava_run = run_lava(program, x, "float", timeout_s=120)
    fast_run = simulate(program, x, "float")
    for name in program.outputs:
        agreement = (lava_run.outputs[name] == fast_run.outputs[name]).mean()
        assert agreement >= 0.999, (name, agreement)
    total_lava = sum(int(c.sum()) for c in lava_run.spike_counts.values())
    total_fast = sum(int(c.sum()) for c in fast_run.spike_counts.values())
    assert total_fast > 0
    assert abs(total_lava - total_fast) <= 0.001 * total_fast


@pytest.mark.parametrize("identity_exp, identity_range", [(2, (6, 30)), (1, (-70, 70)), (-2, (-400, 400))])
def test_lava_fixed_pt_equals_fast_fixed_on_identity_shortcut_with_weight_exp(
    random_program, random_inputs, identity_exp, identity_range
):
    """Tolerance: none. The identity runs as a Lava Sparse diagonal (weight_exp, Lava's (W, H, C) order,
    per-channel weights, one relay for the shorter path); the fast simulator mirrors its integer model."""
    program = random_program("graded", seed=7, identity_exp=identity_exp, identity_range=identity_range)
    x = random_inputs(program, batch=4, seed=7)
    _assert_fixed_equal_and_firing(program, x)
    if identity_exp > 0:  # floating_pt: the Sparse diagonal carries the float weight; tolerance as above
        lava_float, fast_float = run_lava(program, x, "float", timeout_s=120), simulate(program, x, "float")
        for name in program.outputs:
            assert (lava_float.outputs[name] == fast_float.outputs[name]).mean() >= 0.999, name


def test_pipelined_samples_equal_each_sample_run_alone(random_program, random_inputs):
    """LIFReset pipelining: sample k of one long run == sample k alone (its own run, fresh state). Exact."""
    program = random_program(input_mode="graded", seed=5)
    x = random_inputs(program, batch=2, seed=5)
    together = run_lava(program, x, "fixed", timeout_s=120)
    alone = run_lava(program, x, "fixed", timeout_s=120, samples_per_run=1)  # one Lava run per sample
    for name in program.outputs:
        assert together.outputs[name].shape == (program.timesteps, 2, *program.layers[name].shape)
        np.testing.assert_array_equal(together.outputs[name], alone.outputs[name], err_msg=name)
    for name in program.layers:
        np.testing.assert_array_equal(together.spike_counts[name], alone.spike_counts[name], err_msg=name)


def _skip_program(seed: int) -> ChipProgram:
    """input → A (conv) → B → C → D (dense) with skips A → C (one relay), A → D (two relays, sharing
    A's first relay with A → C), B → D (one relay) and input → D (the input delayed by 3 steps).

    Exercises relay chains longer than one, a delayed input RingBuffer, dense from a conv-shaped
    source (torch flattening order) and outputs of different depth.
    """
    rng = np.random.default_rng(seed)

    def lif(name, shape, vth):
        bias = rng.integers(-20, 21, size=shape).astype(np.int32)
        return LifLayer(name, shape, 0.25, 0.5, (bias / 64.0).astype(np.float32), vth, 4095, 3072, bias, 0, 128.0)

    def syn(name, kind, source, target, shape, low, high, **kw):
        w = rng.integers(low, high + 1, size=shape).astype(np.int32)
        shapes = {INPUT: (2, 5, 6), **{name: layer.shape for name, layer in layers.items()}}
        return Synapse.between(name, kind, source, target, shapes, (w / 2.0).astype(np.float32), w, **kw)

    layers = {"A": lif("A", (3, 5, 4), 100), "B": lif("B", (12,), 30), "C": lif("C", (8,), 30), "D": lif("D", (7,), 60)}
    synapses = [
        syn("in->A", "conv", INPUT, "A", (3, 2, 3, 3), -10, 14, padding=(1, 0)),
        syn("A->B", "dense", "A", "B", (12, 60), -40, 40),
        syn("B->C", "dense", "B", "C", (8, 12), -40, 45),
        syn("A->C", "dense", "A", "C", (8, 60), -30, 30),
        syn("C->D", "dense", "C", "D", (7, 8), -40, 45),
        syn("A->D", "dense", "A", "D", (7, 60), -30, 30),
        syn("B->D", "dense", "B", "D", (7, 12), -30, 30),
        syn("in->D", "dense", INPUT, "D", (7, 2 * 5 * 6), -5, 5),
    ]
    return ChipProgram(4, (2, 5, 6), "graded", 16.0, layers, synapses, outputs=["D", "A"], input_bits=16)


def test_lava_fixed_pt_aligns_multi_step_skips_with_relays_and_delayed_input():
    """Tolerance: none (integer arithmetic on both sides)."""
    program = _skip_program(seed=6)
    assert program.depths() == {INPUT: 0, "A": 1, "B": 2, "C": 3, "D": 4}
    x = np.random.default_rng(7).random((3, *program.input_shape)).astype(np.float32)
    _assert_fixed_equal_and_firing(program, x)


def test_exported_identity_shortcut_block_runs_the_same_on_lava_and_fast(tmp_path):
    """Tolerance: none. The real exporter's chip.nir + quant.npz of a conv → BasicBlock (identity shortcut,
    which gets weight_exp ≠ 0), read back by program_from_bundle, on both backends."""
    import io

    import torch
    from torch import nn

    from enof.exporter.graph import capture
    from enof.exporter.partition import partition
    from enof.exporter.quantize import FixedPointLimits, quantize
    from enof.exporter.to_nir import chip_graph, chip_nir_bytes
    from enof.runtime.chip_nir import program_from_bundle
    from enof.trainer.models import EnofNet
    from enof.trainer.models.blocks import BasicBlock
    from enof.trainer.neurons import LIF, NeuronConfig

    torch.manual_seed(0)
    neuron = NeuronConfig()
    backbone = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), LIF(2, neuron),
        BasicBlock(8, 8, 1, LIF(2, neuron), LIF(2, neuron)),
    )  # fmt: skip
    for module in backbone.modules():  # weights large enough that every layer fires
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, 1.5 / np.sqrt(module.weight[0].numel()))
    model = EnofNet(backbone, 8, 10, arch="block", mode="snn", repact=False, timesteps=2, neuron=neuron).eval()
    graph = capture(model, (3, 6, 6), 2)
    part = partition(graph, graded_spikes=True)
    quant = quantize(graph, part, FixedPointLimits(graded_spike_bits=24), input_scale_graded=16.0)
    (tmp_path / "chip.nir").write_bytes(chip_nir_bytes(chip_graph(graph, part, 1e-3)))
    buffer = io.BytesIO()
    np.savez(buffer, **quant.arrays())
    (tmp_path / "quant.npz").write_bytes(buffer.getvalue())
    program = program_from_bundle(tmp_path / "chip.nir", tmp_path / "quant.npz", timesteps=2, input_bits=24)
    shortcut = next(s for s in program.synapses if s.name == "stage1.block0.shortcut")
    assert shortcut.is_identity and shortcut.weight_exp >= 1
    _assert_fixed_equal_and_firing(program, np.random.default_rng(0).normal(0, 1, (4, 3, 6, 6)).astype(np.float32))
