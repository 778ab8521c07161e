"""The neuron step functions alone, against hand-computed traces (and Lava's own LIF model code)."""

import numpy as np
import pytest
import torch

import enof  # noqa: F401  (lava import fix)
from enof.lava_arithmetic import (
    dense_effective_weights,
    effective_bias,
    lif_fixed_step,
    lif_fixed_step_no_wrap,
    no_wrap_a_in_limit,
    no_wrap_dtype,
    shift_by_exp,
)
from enof.runtime.fast.float_point import lif_float_step


def _run_fixed(a_in_trace, du, dv, vth, bias, dtype=torch.int64):
    u = torch.zeros(len(a_in_trace[0]), dtype=dtype)
    v = torch.zeros_like(u)
    rows = []
    for a_in in a_in_trace:
        s, u, v = lif_fixed_step(torch.tensor(a_in, dtype=dtype), u, v, du=du, dv=dv, vth=vth, bias=bias)
        rows.append(([int(i) for i in u.tolist()], [int(i) for i in v.tolist()], s.tolist()))
    return rows


def _run_lava_model(a_in_trace, du, dv, vth, bias_mant, bias_exp):
    """The same trace through lava's PyLifModelBitAcc methods (no runtime, just its arithmetic)."""
    from lava.proc.lif.models import PyLifModelBitAcc

    n = len(a_in_trace[0])
    model = PyLifModelBitAcc({})
    model.u, model.v = np.zeros(n, np.int32), np.zeros(n, np.int32)
    model.du, model.dv, model.vth = du, dv, vth
    model.bias_mant = np.full(n, bias_mant, np.int16)
    model.bias_exp = np.full(n, bias_exp, np.int16)
    rows = []
    for a_in in a_in_trace:
        model.scale_bias()
        model.scale_threshold()
        model.subthr_dynamics(np.array(a_in, np.int32))
        s = model.spiking_activation()
        model.reset_voltage(s)
        rows.append((model.u.tolist(), model.v.tolist(), s.tolist()))
    return rows


def test_lif_fixed_step_matches_hand_trace_with_truncating_decay():
    # du = 4095: u = a_in << 6. dv = 3072: v keeps trunc(v / 4). vth 10 -> 640. bias 3 << 2 = 12.
    # t0: u=320, v=0+320+12=332.  t1: u=1280, v=83+1280+12=1375 > 640 -> spike, v=0.
    # t2: u=-192, v=-180.  t3: u=0, v=trunc(-180/4)=-45, -45+12=-33.
    bias = int(effective_bias(np.array(3), 2))
    rows = _run_fixed([[5], [20], [-3], [0]], du=4095, dv=3072, vth=10, bias=bias)
    assert [r[0][0] for r in rows] == [320, 1280, -192, 0]
    assert [r[1][0] for r in rows] == [332, 0, -180, -33]
    assert [r[2][0] for r in rows] == [False, True, False, False]


def test_lif_fixed_decay_truncates_toward_zero_not_floor():
    # v = -181 then decays to trunc(-181 · 1024 / 4096) = trunc(-45.25) = -45 (floor would be -46).
    rows = _run_fixed([[-3], [0]], du=4095, dv=3072, vth=10, bias=11)
    assert [r[1][0] for r in rows] == [-181, -45 + 11]


def test_lif_fixed_current_wraps_once_asymmetrically_and_voltage_saturates():
    # Neuron 0: a_in = 2^17 + 5 -> a_in << 6 = 2^23 + 320 > 2^23 -> u = 320 - 2^23 = -8388288.
    # Neuron 1: a_in = -2^17 -> -2^23 <= -2^23 -> u = +2^23 = 8388608; v saturates at 2^23 - 1, spikes.
    # Neuron 2: a_in = -2^16 twice with dv = 0: v = -2^22, then -2^23 -> saturates at -(2^23 - 1).
    # Neuron 3: a_in = 2^25 -> << 6 overflows int32 to -2^31 -> u = -2^31 + 2^24 = -2130706432 (one wrap only).
    trace = [[2**17 + 5, -(2**17), -(2**16), 2**25], [0, 0, -(2**16), 0]]
    rows = _run_fixed(trace, du=4095, dv=0, vth=10, bias=0)
    assert rows[0][0] == [-8388288, 8388608, -(2**22), -2130706432]
    assert rows[0][1] == [-8388288, 0, -(2**22), -(2**23 - 1)]
    assert rows[0][2] == [False, True, False, False]
    assert rows[1][1][2] == -(2**23 - 1)


@pytest.mark.parametrize("dtype", [torch.int64, torch.float64])
def test_lif_fixed_step_equals_lavas_own_model_code_on_edge_traces(dtype):
    # Exact equality: integer arithmetic on both sides (float64 holds these integers exactly, < 2^53).
    # The trace covers wrap, saturation and decay truncation; the small-input rows take the fast path.
    trace = [[5, 2**17 + 5, -(2**17), -(2**16), 2**25, -7], [20, 3, -(2**16), -(2**16), 1, -900], [-3, 0, 0, 7, 0, 40],
             [5, 6, -7, 8, 9, -100]]  # fmt: skip
    for du, dv, bias_mant, bias_exp in [(4095, 3072, 3, 2), (4095, 0, -40, 0), (1000, 100, 37, -2)]:
        bias = torch.from_numpy(effective_bias(np.full(6, bias_mant), bias_exp)).to(dtype)
        ours = _run_fixed(trace, du=du, dv=dv, vth=10, bias=bias, dtype=dtype)
        assert ours == _run_lava_model(trace, du, dv, 10, bias_mant, bias_exp)


@pytest.mark.parametrize("dtype", [no_wrap_dtype(3072, 0.0), torch.float64])
def test_no_wrap_step_saturates_v_at_minus_2_23_like_the_general_path_and_lava(dtype):
    # The path the simulator takes for du = 4095 (what the exporter writes) while |a_in| < 2^17.
    # Only negative saturation reaches its clamp: a = 2^17 - 1, dv = 3072 (v keeps trunc(v / 4)).
    # t0: v = -64a = -8388544.  t1: v = -2097136 - 8388544 = -10485680 -> saturates at -(2^23 - 1).
    # t2: v = trunc(-(2^23 - 1) / 4) + 64a = -2097151 + 8388544 = 6291393 > 95000 << 6 = 6080000: spike.
    # (Unsaturated, t2 would give -2621420 + 8388544 = 5767124: no spike.)
    a = 2**17 - 1
    trace, dv, vth = [[-a], [-a], [a]], 3072, 95000
    v = torch.zeros(1, dtype=dtype)
    rows = []
    for a_in in trace:
        s, v = lif_fixed_step_no_wrap(torch.tensor(a_in, dtype=dtype), v, dv=dv, vth=vth, bias=0)
        rows.append(([int(i) for i in v.tolist()], [bool(i) for i in s.tolist()]))
    assert [r[0][0] for r in rows] == [-8388544, -(2**23 - 1), 0]
    assert [r[1][0] for r in rows] == [False, False, True]
    general = [(r[1], r[2]) for r in _run_fixed(trace, du=4095, dv=dv, vth=vth, bias=0)]
    lava = [(r[1], r[2]) for r in _run_lava_model(trace, 4095, dv, vth, 0, 0)]
    assert rows == general == lava


def test_dense_effective_weights_clip_and_truncate_per_sign_mode():
    # MIXED: clip to [-256, 255], then lose the lowest bit: 3->2, -3->-4, 255->254, 5->4.
    mixed = dense_effective_weights(np.array([[3, -3, 300], [-400, 0, 5]]))
    assert mixed.tolist() == [[2, -4, 254], [-256, 0, 4]]
    # EXCITATORY keeps all 8 bits, clipped to [0, 255]; INHIBITORY clips to [-255, 0].
    assert dense_effective_weights(np.array([[3, 0, 300]])).tolist() == [[3, 0, 255]]
    assert dense_effective_weights(np.array([[-3, -300]])).tolist() == [[-3, -255]]
    # 6-bit EXCITATORY: (w >> 2) << 2.
    assert dense_effective_weights(np.array([[7, 13]]), num_weight_bits=6).tolist() == [[4, 12]]


def test_weight_exp_shift_is_arithmetic():
    acc = torch.tensor([-5, 5, 12])
    assert shift_by_exp(acc, -1).tolist() == [-3, 2, 6]  # floor, as numpy right_shift
    assert shift_by_exp(acc, 2).tolist() == [-20, 20, 48]


def test_the_targets_state_bits_set_where_v_saturates_and_the_no_wrap_limit():
    # a_in = 400: u = 400 << 6 = 25600; v = 25600 + bias 10000 = 35600, above a 16-bit state's 2^15 − 1.
    zero, a_in = torch.zeros(1, dtype=torch.int64), torch.tensor([400])
    _, _, v16 = lif_fixed_step(a_in, zero, zero, du=4095, dv=0, vth=2**16, bias=10000, state_bits=16)
    _, _, v24 = lif_fixed_step(a_in, zero, zero, du=4095, dv=0, vth=2**16, bias=10000)  # Lava's 24 bits
    _, v16_no_wrap = lif_fixed_step_no_wrap(a_in.double(), zero.double(), dv=0, vth=2**16, bias=10000, state_bits=16)
    assert v16.tolist() == [2**15 - 1] == v16_no_wrap.tolist() and v24.tolist() == [35600]
    assert no_wrap_a_in_limit(16) == 2**15 >> 6 and no_wrap_a_in_limit() == 2**17


def test_lif_float_step_threshold_is_strict_and_reset_to_zero():
    # I = 0.5 (exact in float32): v = 0.5 (not > 0.5), 0.625 -> spike -> 0, 0.5, 0.625 -> spike.
    # I = 0.375: v approaches 0.5 from below and never spikes: 0.375, 0.46875, 0.4921875, 0.498046875.
    v = torch.zeros(2)
    current = torch.tensor([0.5, 0.375])
    vs, ss = [], []
    for _ in range(4):
        s, v = lif_float_step(current, v, decay=0.25, v_threshold=0.5, bias=0.0)
        vs.append(v.tolist())
        ss.append(s.tolist())
    assert [row[0] for row in vs] == [0.5, 0.0, 0.5, 0.0]
    assert [row[0] for row in ss] == [False, True, False, True]
    assert [row[1] for row in vs] == [0.375, 0.46875, 0.4921875, 0.498046875]
    assert not any(row[1] for row in ss)


def test_lif_fixed_current_at_exactly_plus_minus_2_23_wraps_only_past_lavas_bound():
    """Lava's u wrap (models.py: u > 2^23 loses 2^24, u <= −2^23 gains 2^24) at its edges, reached with du = 2047
    (the current keeps trunc(u · 2048 / 4096) = u/2), so the sum is not a multiple of 64:
    step 0 a_in = 2, 3, −2, −1 → u = 128, 192, −128, −64; step 1 a_in = ±(2^17 − 1) → ±(2^23 − 64) plus u/2:
    2^23 exactly stays (not > 2^23), 2^23 + 32 wraps to 32 − 2^23, −2^23 exactly wraps to +2^23,
    −2^23 + 32 stays. Equal to Lava's PyLifModelBitAcc on the same trace."""
    a = 2**17 - 1
    trace = [[2, 3, -2, -1], [a, a, -a, -a]]
    rows = _run_fixed(trace, du=2047, dv=4095, vth=2**17, bias=0)
    assert rows[1][0] == [2**23, 32 - 2**23, 2**23, 32 - 2**23]
    assert rows == _run_lava_model(trace, 2047, 4095, 2**17, 0, 0)
