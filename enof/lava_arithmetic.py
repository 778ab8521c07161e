"""Lava's fixed-point arithmetic (lava-nc 0.10.0, fixed_pt models), as pure torch functions on integers: what
the built-in simulator's neurons (enof.runtime.fast) and the synapse kinds' operators (enof.synapses) compute with.

Our own reading of `lava/proc/lif/models.py` (AbstractPyLifModelFixed, PyLifModelBitAcc),
`lava/proc/dense/models.py` (AbstractPyDenseModelBitAcc), `lava/proc/conv/models.py`
(PyConvModelFixed) and `lava/utils/weightutils.py`. Lava computes in numpy int32 (wrapping on
overflow) and int64 in places; we compute on exact integers (int64, or floats holding integers:
float64 below 2^53, float32 below 2^24) and apply the int32 wrap exactly where numpy's int32
arithmetic would wrap, so results agree bit for bit (docs/design.md §6). Lava's constants are in
enof.formats.fixed_point; the width of u and v (``state_bits``) is the target profile's, Lava's 24 by default.
"""

from __future__ import annotations

import numpy as np
import torch

from enof.formats.fixed_point import (
    ACT_SHIFT,
    DECAY_UNITY,
    DU_OFFSET,
    DV_OFFSET,
    FLOAT32_EXACT,  # noqa: F401  (re-exported, as below)
    FLOAT64_EXACT,  # noqa: F401
    LAVA_STATE_BITS,
    VTH_SHIFT,
    dense_effective_weights,  # noqa: F401  (re-exported: the synapse kinds and tests import it here)
)

INT32_LIMIT = 2**31  # Lava's numpy int32 arithmetic wraps at ±2^31
NO_WRAP_BIAS_LIMIT = 2**30  # with |v|, |u| < 2^29, |v| + |u| + |bias| < 2^31: the int32 sum cannot wrap


def wrap_signed(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Two's-complement wrap of integer values to a signed ``bits``-bit integer (numpy int32 overflow for 32).

    Works on int64 tensors and on float64 tensors holding integers below 2^53 (exact there).
    """
    half = 1 << (bits - 1)
    return torch.remainder(x + half, 1 << bits) - half


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    return wrap_signed(x, 32)


def trunc_div(x: torch.Tensor, divisor: int) -> torch.Tensor:
    """Integer division rounding toward zero; exact on float-held integers for a power-of-two divisor.

    (``torch.div(rounding_mode="trunc")``: on CPU ~20x faster than ``torch.trunc`` for float32.)
    """
    return torch.div(x, divisor, rounding_mode="trunc")


def decay_fixed(state: torch.Tensor, decay_code: int) -> torch.Tensor:
    """sign(p)·(|p| >> 12) with p = state·(4096 − decay_code): truncation of p/4096 toward zero."""
    factor = DECAY_UNITY - decay_code
    if factor == 0:
        return torch.zeros_like(state)
    if factor == DECAY_UNITY:
        return state
    return trunc_div(state * factor, DECAY_UNITY)


def effective_bias(bias_mant: np.ndarray, bias_exp: int) -> np.ndarray:
    """bias_mant << bias_exp, or arithmetic >> −bias_exp (Lava's scale_bias, recomputed each step)."""
    mant = np.asarray(bias_mant, dtype=np.int64)
    out = mant << bias_exp if bias_exp >= 0 else mant >> -bias_exp
    return ((out + INT32_LIMIT) % (2 * INT32_LIMIT)) - INT32_LIMIT  # Lava shifts in int32


def lif_fixed_step(
    a_in: torch.Tensor,
    u: torch.Tensor,
    v: torch.Tensor,
    *,
    du: int,
    dv: int,
    vth: int,
    bias: torch.Tensor | int,
    state_bits: int = LAVA_STATE_BITS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One PyLifModelBitAcc step on int32 values held in int64 or float64 tensors: (a_in, u, v) → (spikes as 0/1,
    u, v), enof.lif.lif_step's order (input, state) → (spikes, state).

    The general path: every wrap and saturation of Lava's int32 and ``state_bits``-bit arithmetic.

    ``a_in`` is the int32 sum of the incoming activations; ``bias`` the effective bias.
    """
    max_uv = 1 << (state_bits - 1)  # 2^23 in Lava (max_uv_val)
    activation = wrap_int32(a_in * (1 << ACT_SHIFT))  # np.left_shift on int32 wraps
    summed = wrap_int32(decay_fixed(u, du + DU_OFFSET) + activation)  # int32 +=
    # One asymmetric wrap (models.py: > 2^23 loses 2^24; <= -2^23 gains 2^24), not a modulo.
    u = torch.where(summed > max_uv, summed - 2 * max_uv, summed)
    u = torch.where(u <= -max_uv, summed + 2 * max_uv, u)
    v = wrap_int32(decay_fixed(v, dv + DV_OFFSET) + u + bias)  # int32 sum, then saturate
    v = torch.clamp(v, -(max_uv - 1), max_uv - 1)
    spikes = v > (vth << VTH_SHIFT)
    v = torch.where(spikes, torch.zeros_like(v), v)
    return spikes.to(v.dtype), u, v


def lif_fixed_step_no_wrap(
    a_in: torch.Tensor, v: torch.Tensor, *, dv: int, vth: int, bias: torch.Tensor | int,
    state_bits: int = LAVA_STATE_BITS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``lif_fixed_step`` for du = 4095 when no wrap can happen: (a_in, v) → (spikes as 0/1 of v's dtype, v).

    Preconditions (the caller checks them, ``no_wrap_applies``): |a_in| < ``no_wrap_a_in_limit`` (2^17),
    so u = a_in << 6 stays inside the state range and needs no wrap; every intermediate integer is exact
    in the tensor's dtype (see ``no_wrap_dtype``). Then v = clip(trunc(v·(4096 − dv)/4096) + (a_in << 6)
    + bias); same numbers, fewer and cheaper ops (float arithmetic only: boolean tensors are slow on CPU).
    """
    v_max = (1 << (state_bits - 1)) - 1
    v = decay_fixed(v, dv + DV_OFFSET).add_(a_in, alpha=1 << ACT_SHIFT).add_(bias)
    v = v.clamp_(-v_max, v_max)
    spikes = (v - (vth << VTH_SHIFT)).clamp_(0, 1)  # integers: v > vth_eff  <=>  v - vth_eff >= 1
    return spikes, v.addcmul_(v, spikes, value=-1)


def no_wrap_applies(du: int, bias_max: float, state_bits: int = LAVA_STATE_BITS) -> bool:
    """Whether a LIF may take ``lif_fixed_step_no_wrap`` (on steps with |a_in| < ``no_wrap_a_in_limit``):
    du = 4095 keeps no current, and the int32 sum of v, u (both below 2^29) and the bias cannot wrap."""
    return du + DU_OFFSET == DECAY_UNITY and bias_max < NO_WRAP_BIAS_LIMIT and state_bits <= 30


def no_wrap_a_in_limit(state_bits: int = LAVA_STATE_BITS) -> int:
    """|a_in| below this (2^17 for 24 bits) keeps |a_in << 6| inside the state range: no current wrap."""
    return (1 << (state_bits - 1)) >> ACT_SHIFT


def no_wrap_dtype(dv: int, bias_max: float, state_bits: int = LAVA_STATE_BITS) -> torch.dtype:
    """float32 when ``lif_fixed_step_no_wrap`` is exact in it, else float64 (exact below 2^53).

    float32 holds integers below 2^24 exactly; multiplying by a power of two is exact, so the decay is
    exact when 4096 − dv is a power of two (or 0); the largest sum |v_dec| + |u| + |bias| must stay below 2^24.
    """
    max_uv = 1 << (state_bits - 1)
    factor = DECAY_UNITY - (dv + DV_OFFSET)
    power_of_two = factor == 0 or (factor > 0 and factor & (factor - 1) == 0)
    largest = factor / DECAY_UNITY * (max_uv - 1) + max_uv + bias_max
    return torch.float32 if power_of_two and largest < FLOAT32_EXACT else torch.float64


def shift_by_exp(acc: torch.Tensor, weight_exp: int) -> torch.Tensor:
    """acc << weight_exp, or arithmetic acc >> −weight_exp (floor division by a power of two)."""
    if weight_exp > 0:
        return acc * (1 << weight_exp)
    if weight_exp < 0:
        if acc.is_floating_point():
            return torch.floor(acc / (1 << -weight_exp))
        return torch.div(acc, 1 << -weight_exp, rounding_mode="floor")
    return acc
