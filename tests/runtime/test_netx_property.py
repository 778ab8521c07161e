"""Property: for small random sequential networks at the edges netx reads (widths, strides, paddings, kernel sizes,
dense weights at each sign mode's limits, biases at exponents 0 to 7 that exponent 6 holds), the chip.net.h5 the
writer makes, run by lava-dl's own netx in Lava (Loihi2SimCfg fixed_pt), gives the built-in simulator's spikes.

Tolerance: none; both run Lava's integer arithmetic. One Lava worker per network (~30 s each, netx's import
included), so a handful of seeded draws; the seeds are printed in the test ids. A network whose dense weights
netx would read wrongly is refused by the writer, and netx itself shows the refusal is not spurious.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from enof.errors import BundleError

from enof.formats.netx import dense_read_problem, netx_bytes
from enof.runtime.fast import simulate
from enof.runtime.lava.backend import run_lava
from enof.runtime.netx.file import netx_layers_of
from enof.runtime.program import INPUT, ChipProgram, LifLayer, Synapse

DU, DV = 4095, 3072
BIAS_MANT_BITS = 13
DENSE_FAMILIES = {  # (low, high, step): the edges netx reads exactly (enof.formats.netx.dense_read_problem)
    "mixed [-256, 254]": (-256, 254, 2),
    "excitatory [0, 255]": (0, 255, 1),
    "inhibitory [-255, -1]": (-255, -1, 1),
    "small mixed [-2, 2]": (-2, 2, 2),
}


def _weights(rng, shape, low, high, step, edges=True):
    w = rng.integers(low // step, high // step + 1, size=shape) * step
    if edges:  # the family's own limits, somewhere
        flat = w.reshape(-1)
        flat[rng.choice(flat.size, 2, replace=False)] = (low, high)
    return w.astype(np.int32)


def _bias(rng, shape):
    """A bias at an exponent in 0..7 that netx's exponent 6 holds: below 6 the mantissa is a multiple of 2^(6−exp)."""
    exp = int(rng.choice([0, 3, 6, 7]))
    unit = 1 << max(0, 6 - exp)
    top = (2 ** (BIAS_MANT_BITS - 1) - 1) >> max(0, exp - 6)  # within 13 bits at exponent 6
    mant = rng.integers(-40, 41, size=shape) * unit
    mant.reshape(-1)[0] = (top // unit) * unit if exp >= 6 else mant.reshape(-1)[0]  # one bias at the 13-bit edge
    return mant.astype(np.int32), exp


def random_sequential_program(seed: int, dense_family: str, timesteps: int = 3) -> ChipProgram:
    """conv layers (1 to 3: kernel 1/3/5, stride 1/2, padding up to k−1, 1–4 channels), then flatten + dense (1–2)."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 3)), int(rng.integers(5, 10)), int(rng.integers(5, 10)))
    input_shape = shape
    layers, synapses, source, fan_drive = {}, [], INPUT, 32.0  # graded input: x_int in [0, 64]

    def add(name, kind, out_shape, weight, **geometry):
        nonlocal source, fan_drive
        fan_in = weight[0].size
        w = weight.astype(np.float64)  # a guess of the input current with ~30 % of the sources active
        drive = (abs(w.mean()) * fan_in * 0.3 + w.std() * np.sqrt(fan_in * 0.3)) * fan_drive
        vth = max(1, int(drive * rng.uniform(0.4, 0.8)))  # moderate firing, in the units a_in lands in
        bias_mant, bias_exp = _bias(rng, out_shape)
        if weight.max() <= 0:  # inhibitory synapses alone never fire a LIF: a bias about as large as their input does
            share = rng.uniform(0.5, 1.5, out_shape) * drive * 64 / 2.0**bias_exp
            unit = 1 << max(0, 6 - bias_exp)
            bias_mant = (np.rint(share / unit) * unit).astype(np.int32)
        layers[f"{name}.act"] = LifLayer(f"{name}.act", out_shape, 0.25, 0.5, np.zeros(out_shape, np.float32), vth, DU, DV,
                                         bias_mant, bias_exp, float(vth << 7))  # fmt: skip
        shapes = {INPUT: input_shape, **{n: layer.shape for n, layer in layers.items()}}
        synapses.append(Synapse.between(name, kind, source, f"{name}.act", shapes, weight.astype(np.float32), weight,
                                        **geometry))
        source, fan_drive = f"{name}.act", 1.0

    for i in range(int(rng.integers(1, 4))):
        k = int(rng.choice([1, 3, 5]))
        if k > min(shape[1:]):
            k = 1
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        padding = (int(rng.integers(0, k)), int(rng.integers(0, k)))
        out_c = int(rng.integers(1, 5))
        out = (out_c, (shape[1] + 2 * padding[0] - k) // stride[0] + 1, (shape[2] + 2 * padding[1] - k) // stride[1] + 1)
        add(f"conv{i + 1}", "conv", out, _weights(rng, (out_c, shape[0], k, k), -60, 60, 1), stride=stride, padding=padding)
        shape = out
    low, high, step = DENSE_FAMILIES[dense_family]
    n_in = int(np.prod(shape))
    for j in range(int(rng.integers(1, 3))):
        n_out = int(rng.integers(3, 12))
        add(f"fc{j + 1}", "dense", (n_out,), _weights(rng, (n_out, n_in), low, high, step))
        n_in = n_out
    return ChipProgram(timesteps=timesteps, input_shape=input_shape, input_mode="graded", input_scale=64.0,
                       layers=layers, synapses=synapses, outputs=[source], input_bits=24)


def _netx_run(program, x):
    data = netx_bytes(program.input_shape, netx_layers_of(program, BIAS_MANT_BITS))
    return run_lava(program, x, "fixed", timeout_s=300, netx_file=data)


@pytest.mark.parametrize("seed, family", [(11, "mixed [-256, 254]"), (12, "excitatory [0, 255]"),
                                          (16, "inhibitory [-255, -1]"), (14, "small mixed [-2, 2]")])
def test_netx_runs_random_sequential_networks_spike_for_spike_with_the_built_in_simulator(seed, family):
    program = random_sequential_program(seed, family)
    x = np.random.default_rng(seed).random((3, *program.input_shape)).astype(np.float32)
    netx_run, fast_run = _netx_run(program, x), simulate(program, x, "fixed", record_spikes=True)
    for name in program.layers:
        np.testing.assert_array_equal(netx_run.spikes[name], fast_run.spikes[name], err_msg=name)
        np.testing.assert_array_equal(netx_run.spike_counts[name], fast_run.spike_counts[name], err_msg=name)
    rates = {n: c.sum() / (program.layers[n].neurons * program.timesteps * len(x)) for n, c in fast_run.spike_counts.items()}
    assert all(rate < 1 for rate in rates.values()) and sum(rate > 0 for rate in rates.values()) >= len(rates) - 1, rates


def test_dense_weights_netx_misreads_are_refused_and_netx_really_computes_other_spikes():
    """The other side of the bound: excitatory weights above 255 (enof's Lava Dense clips them to 255; netx derives a
    negative shift and runs weights of 0). Written anyway, bypassing the refusal, netx's spikes differ."""
    program = random_sequential_program(12, "excitatory [0, 255]")
    layers = netx_layers_of(program, BIAS_MANT_BITS)
    last = program.synapses[-1]
    wide = np.where(last.weight_int > 0, last.weight_int + 60, 0).astype(np.int32)  # up to 315
    program.synapses[-1] = replace(last, weight=wide.astype(np.float32), weight_int=wide)
    assert "above 255" in dense_read_problem(wide, 0, 8)
    with pytest.raises(BundleError, match=f"{last.name}: weights in \\[0, {wide.max()}\\]"):
        netx_layers_of(program, BIAS_MANT_BITS)
    layers[-1] = replace(layers[-1], weight=wide.astype(np.int64))
    x = np.random.default_rng(12).random((3, *program.input_shape)).astype(np.float32)
    netx_run = run_lava(program, x, "fixed", timeout_s=300, netx_file=netx_bytes(program.input_shape, layers))
    fast_run = simulate(program, x, "fixed")
    for name in list(program.layers)[:-1]:  # the same up to the misread layer
        np.testing.assert_array_equal(netx_run.spike_counts[name], fast_run.spike_counts[name], err_msg=name)
    assert not np.array_equal(netx_run.spike_counts[last.target], fast_run.spike_counts[last.target])
