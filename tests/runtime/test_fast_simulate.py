"""The fast simulator against independent references: Lava's own fixed-point code, and a plain float SNN."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import enof  # noqa: F401  (lava import fix)
from enof.errors import RunError
from enof.runtime.fast import simulate
from enof.runtime.program import INPUT


def _lava_conv(x_chw, weight_torch, stride, padding):
    """One sample through lava's conv (true convolution, WHC layout) and its 24-bit clamp."""
    from lava.proc.conv import utils

    w_lava = weight_torch[:, :, ::-1, ::-1].transpose(0, 3, 2, 1).astype(np.int32)
    out = utils.conv(
        x_chw.transpose(2, 1, 0), w_lava, w_lava.shape[1:3], stride[::-1], padding[::-1], (1, 1), 1
    )
    return utils.signed_clamp(out, bits=24).transpose(2, 1, 0)


def _lava_dense(s_flat, weight_int, weight_exp, graded):
    """AbstractPyDenseModelBitAcc.run_spk for one sample, then the int32 channel cast."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    sign_mode = determine_sign_mode(weight_int)
    w = truncate_weights(clip_weights(weight_int, sign_mode, num_bits=8), sign_mode, 8)
    acc = w.dot(s_flat.astype(np.int32)) if graded else w[:, s_flat.astype(bool)].sum(axis=1)
    acc = np.left_shift(acc, weight_exp) if weight_exp > 0 else np.right_shift(acc, -weight_exp)
    return acc.astype(np.int32)


def _lava_sparse_diagonal(s_chw, diag_int, weight_exp, graded):
    """AbstractPySparseModelBitAcc.run_spk for an identity conv's csr diagonal, then the int32 channel cast."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
    from scipy import sparse

    values = np.broadcast_to(np.asarray(diag_int)[:, None, None], s_chw.shape).reshape(-1)
    w = sparse.diags(values.astype(np.int32), format="csr", dtype=np.int32)
    sign_mode = determine_sign_mode(w)
    w = truncate_weights(clip_weights(w, sign_mode, num_bits=8), sign_mode, 8)
    s_flat = s_chw.reshape(-1)
    acc = w.dot(s_flat.astype(np.int32)) if graded else w[:, s_flat.astype(bool)].sum(axis=1).A1
    acc = np.left_shift(acc, weight_exp) if weight_exp > 0 else np.right_shift(acc, -weight_exp)
    return acc.astype(np.int32).reshape(s_chw.shape)


def _lava_reference(program, x):
    """Sample by sample, step by step, in aligned time, with Lava's model code: spikes (T, B, *shape) per LIF."""
    from lava.proc.lif.models import PyLifModelBitAcc

    x_int = np.clip(np.rint(x.astype(np.float64) * program.input_scale), -(2**15), 2**15 - 1).astype(np.int32)
    rasters = {n: np.zeros((program.timesteps, len(x), *lay.shape), np.uint8) for n, lay in program.layers.items()}
    for b in range(len(x)):
        models = {}
        for name, layer in program.layers.items():
            m = PyLifModelBitAcc({})
            m.u, m.v = np.zeros(layer.shape, np.int32), np.zeros(layer.shape, np.int32)
            m.du, m.dv, m.vth = layer.du, layer.dv, layer.vth
            m.bias_mant = layer.bias_mant.astype(np.int16)
            m.bias_exp = np.full(layer.shape, layer.bias_exp, np.int16)
            models[name] = m
        for t in range(program.timesteps):
            values = {INPUT: x_int[b]}
            for name, layer in program.layers.items():
                a_in = np.zeros(layer.shape, np.int16)  # PyInPortVectorDense.recv: int16 zeros + each int32
                for syn in program.incoming(name):
                    src = values[syn.source]
                    if syn.kind == "current":
                        a = src.astype(np.int32)
                    elif syn.kind == "conv" and syn.weight_exp != 0:  # identity: Lava Sparse
                        a = _lava_sparse_diagonal(src, syn.diagonal_int, syn.weight_exp, syn.source == INPUT)
                    elif syn.kind == "conv":
                        a = _lava_conv(src, syn.weight_int, syn.stride, syn.padding)
                    else:
                        a = _lava_dense(src.reshape(-1), syn.weight_int, syn.weight_exp, syn.source == INPUT)
                    a_in = a_in + a.reshape(layer.shape).astype(np.int32)
                m = models[name]
                m.scale_bias()
                m.scale_threshold()
                m.subthr_dynamics(a_in)
                s = m.spiking_activation()
                m.reset_voltage(s)
                values[name] = s.astype(np.int32)  # LIF s_out is an int32 port
                rasters[name][t, b] = s
    return rasters


@pytest.mark.parametrize("input_mode", ["graded", "current"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_fixed_equals_lava_model_code_on_random_residual_programs(random_program, random_inputs, input_mode, seed):
    # Exact: both sides are integer arithmetic; any difference is a bug.
    program = random_program(input_mode, seed=seed, timesteps=3)
    x = random_inputs(program, batch=3, seed=seed)
    reference = _lava_reference(program, x)
    run = simulate(program, x, "fixed", record_spikes=True)
    for name in program.layers:
        assert np.array_equal(run.spikes[name], reference[name]), name
        assert np.array_equal(run.spike_counts[name], reference[name].sum(axis=(0, 1))), name
        assert 0.05 < reference[name].mean() < 0.95, f"{name} should fire at a moderate rate to test anything"
    for name in program.outputs:
        assert np.array_equal(run.outputs[name], reference[name].astype(np.float32))


@pytest.mark.parametrize("identity_exp, identity_range", [(2, (6, 30)), (1, (-70, 70)), (-2, (-400, 400))])
def test_fast_fixed_equals_lava_sparse_model_code_on_identity_shortcut_with_weight_exp(
    random_program, random_inputs, identity_exp, identity_range
):
    # Exact. (2, 6..30): a left shift, as the quantizer makes for identity shortcuts; ±400: a mixed-sign
    # diagonal beyond 8 bits, so Sparse's clip and MIXED truncation act (visible with exp 1) and the right
    # shift floors negative sums (exp −1).
    program = random_program("graded", seed=7, timesteps=3, identity_exp=identity_exp, identity_range=identity_range)
    x = random_inputs(program, batch=3, seed=7)
    reference = _lava_reference(program, x)
    run = simulate(program, x, "fixed", record_spikes=True)
    for name in program.layers:
        assert np.array_equal(run.spikes[name], reference[name]), name
        assert 0.05 < reference[name].mean() < 0.95, f"{name} should fire at a moderate rate to test anything"


@pytest.mark.parametrize("weight_exp", [-2, 1, 3])
@pytest.mark.parametrize("graded", [False, True])
def test_identity_op_equals_lava_sparse_on_clipped_truncated_diagonals(weight_exp, graded):
    # Exact, on the activations themselves: diagonals beyond 8 bits (clipped), odd and mixed-sign
    # (MIXED truncation) or single-signed (kept whole), binary spikes or graded payloads.
    from enof.runtime.fast.synapses import build_fixed_op
    from enof.runtime.program import Synapse

    rng = np.random.default_rng(100 + weight_exp + 10 * graded)
    for diag in (rng.integers(-400, 401, 5), rng.integers(1, 400, 5), -rng.integers(1, 400, 5)):
        w_int = np.zeros((5, 5, 1, 1), np.int32)
        w_int[np.arange(5), np.arange(5), 0, 0] = diag
        shapes = {"a": (5, 3, 4), "b": (5, 3, 4)}
        syn = Synapse.between("id", "conv", "a", "b", shapes, w_int.astype(np.float32), w_int, weight_exp)
        s = rng.integers(-1000, 1001, (2, 5, 3, 4)) if graded else rng.integers(0, 2, (2, 5, 3, 4))
        op = build_fixed_op(syn, input_bound=1000 if graded else 1, graded=graded)
        got = op.apply(torch.from_numpy(s.astype(np.float32))).numpy()
        for b in range(2):
            assert np.array_equal(got[b], _lava_sparse_diagonal(s[b], diag, weight_exp, graded)), diag


def test_fast_fixed_is_independent_of_batch_composition(random_program, random_inputs):
    # Samples must not interact: running one sample alone gives its rows of the batched run.
    program = random_program("graded", seed=3)
    x = random_inputs(program, batch=5, seed=3)
    batched = simulate(program, x, "fixed", record_spikes=True)
    alone = simulate(program, x[2:3], "fixed", record_spikes=True)
    for name in program.layers:
        assert np.array_equal(batched.spikes[name][:, 2:3], alone.spikes[name])


def _plain_float_snn(program, x):
    """The same float weights as a hand-written PyTorch SNN: conv/linear, v = 0.25 v + I + b, strict threshold."""
    xs = torch.from_numpy(x.astype(np.float32))
    syn = {s.name: s for s in program.synapses}
    w = {name: torch.from_numpy(s.weight) for name, s in syn.items()}
    bias = {n: torch.from_numpy(lay.bias_float) for n, lay in program.layers.items()}
    v = {n: torch.zeros((len(x), *lay.shape)) for n, lay in program.layers.items()}
    out = {n: [] for n in program.layers}
    for _ in range(program.timesteps):
        if program.input_mode == "graded":
            i0 = F.conv2d(xs, w["b.0.conv"], padding=1)
        else:
            i0 = xs
        s0 = _float_lif(v, "b.0.act", i0, bias)
        s1 = _float_lif(v, "b.1.act", F.conv2d(s0, w["b.1.conv"], stride=2, padding=1), bias)
        i2 = F.conv2d(s1, w["b.2.conv2"], padding=1) + F.conv2d(s0, w["b.2.shortcut"], stride=2)
        s2 = _float_lif(v, "b.2.act2", i2, bias)
        s3 = _float_lif(v, "fc.act", s2.flatten(1) @ w["fc"].T, bias)
        for n, s in zip(program.layers, (s0, s1, s2, s3)):
            out[n].append(s)
    return {n: torch.stack(s).numpy() for n, s in out.items()}


def _float_lif(v, name, current, bias):
    v[name] = 0.25 * v[name] + current + bias[name]
    s = (v[name] > 0.5).float()
    v[name] = v[name] * (1 - s)
    return s


@pytest.mark.parametrize("input_mode", ["graded", "current"])
def test_fast_float_spikes_equal_a_plain_pytorch_snn_of_the_same_weights(random_program, random_inputs, input_mode):
    # Exact equality: both compute in float32 with the same synapse operations in the same order
    # (conv/linear, residual sum conv2 + shortcut, + b, strict threshold). The LIF step is enof.lif's, the
    # trainer's v + 0.75·(I·4/3 − v), against the reference's 0.25·v + I: about half the v differ by up
    # to 4 ulps (of 0.5: 2.4e-7), which flips a spike only where v lies that close to 0.5 — on no neuron
    # of these programs (seeds 0-11, both input modes, measured). What this test catches is everything
    # that can be wired wrong: sources, strides, padding, flatten order, reset.
    program = random_program(input_mode, seed=4)
    x = random_inputs(program, batch=6, seed=4)
    run = simulate(program, x, "float", record_spikes=True)
    ref = _plain_float_snn(program, x)
    for name in program.layers:
        assert np.array_equal(run.spikes[name], ref[name]), name
        assert 0.05 < ref[name].mean() < 0.95


def test_simulate_rejects_inputs_of_the_wrong_shape(random_program):
    program = random_program("graded")
    with pytest.raises(RunError, match=r"input shape \(3, 8, 8\) does not match the chip input \(2, 8, 8\)"):
        simulate(program, np.zeros((1, 3, 8, 8), np.float32))


def test_fast_fixed_equals_lava_model_code_when_sums_wrap_and_currents_overflow(random_program, random_inputs):
    # Exact. Conv weights far beyond 8 bits (Lava's Conv does not clip them) make the convolution
    # pass 2^23 and wrap at 24 bits, and a_in << 6 then leaves the 24-bit current range (u wraps);
    # the dense layer's weight_exp = 6 does the same through the shift. This drives the general path.
    from dataclasses import replace

    program = random_program("graded", seed=7, timesteps=3)
    rng = np.random.default_rng(7)
    synapses = []
    for syn in program.synapses:
        if syn.name == "b.2.conv2":
            syn = replace(syn, weight_int=rng.integers(-200_000, 800_001, size=syn.weight.shape).astype(np.int32))
        if syn.name == "fc":
            syn = replace(syn, weight_exp=6)
        synapses.append(syn)
    program = replace(program, synapses=synapses)
    x = random_inputs(program, batch=3, seed=7)
    run = simulate(program, x, "fixed", record_spikes=True)
    reference = _lava_reference(program, x)
    for name in program.layers:
        assert np.array_equal(run.spikes[name], reference[name]), name
    big = next(s for s in program.synapses if s.name == "b.2.conv2")
    raw = F.conv2d(torch.from_numpy(run.spikes["b.1.act"].reshape(-1, *program.layers["b.1.act"].shape)).double(),
                   torch.from_numpy(big.weight_int.astype(np.float64)), padding=1)  # fmt: skip
    assert float(raw.abs().max()) > 2**23  # the 24-bit wrap really happened
