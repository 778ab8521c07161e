"""Lava's fixed-point arithmetic (lava-nc 0.10.0, fixed_pt models), as pure torch functions on integers.

Our own reading of `lava/proc/lif/models.py` (AbstractPyLifModelFixed, PyLifModelBitAcc),
`lava/proc/dense/models.py` (AbstractPyDenseModelBitAcc), `lava/proc/conv/models.py`
(PyConvModelFixed) and `lava/utils/weightutils.py`. Lava computes in numpy int32 (wrapping on
overflow) and int64 in places; we compute on exact integers (int64, or float64 below 2^53) and apply the int32 wrap exactly where numpy's
int32 arithmetic would wrap, so results agree bit for bit (docs/design.md §6).
"""

from __future__ import annotations

import numpy as np
import torch

DECAY_SHIFT = 12  # decays are 12-bit fractions of 4096
DECAY_UNITY = 1 << DECAY_SHIFT
ACT_SHIFT = 6  # a_in << 6 (MSB alignment of the synaptic input)
VTH_SHIFT = 6  # vth << 6
STATE_BITS = 24  # u and v are 24-bit
MAX_UV = 1 << (STATE_BITS - 1)  # 2^23
DU_OFFSET = 1  # ds_offset: effective current decay is du + 1 (du = 4095 -> u keeps nothing)
DV_OFFSET = 0  # dm_offset


def wrap_signed(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Two's-complement wrap of integer values to a signed ``bits``-bit integer (numpy int32 overflow for 32).

    Works on int64 tensors and on float64 tensors holding integers below 2^53 (exact there).
    """
    half = 1 << (bits - 1)
    return torch.remainder(x + half, 1 << bits) - half


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    return wrap_signed(x, 32)


def trunc_div(x: torch.Tensor, divisor: int) -> torch.Tensor:
    """Integer division rounding toward zero; on float64 integers exact (a power-of-two divisor is exact)."""
    if x.is_floating_point():
        return torch.trunc(x / divisor)
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
    return ((out + 2**31) % 2**32) - 2**31  # Lava shifts in int32


def lif_fixed_step(
    u: torch.Tensor,
    v: torch.Tensor,
    a_in: torch.Tensor,
    *,
    du: int,
    dv: int,
    vth: int,
    bias: torch.Tensor | int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One PyLifModelBitAcc step on int32 values held in int64 or float64 tensors: returns (u, v, spikes as bool).

    ``a_in`` is the int32 sum of the incoming activations; ``bias`` the effective bias.
    """
    bias_max = float(bias.abs().max()) if isinstance(bias, torch.Tensor) else abs(bias)
    if du + DU_OFFSET == DECAY_UNITY and bias_max < 2**30 and float(a_in.abs().max()) < MAX_UV >> ACT_SHIFT:
        # Fast path, same numbers: u keeps nothing and |a_in << 6| < 2^23, so no wrap can occur
        # (|v_dec| <= 2^23, |u| < 2^23, |bias| < 2^30 keep the int32 sum exact).
        u = a_in * (1 << ACT_SHIFT)
        v = torch.clamp(decay_fixed(v, dv + DV_OFFSET) + u + bias, -(MAX_UV - 1), MAX_UV - 1)
        spikes = v > (vth << VTH_SHIFT)
        return u, v.masked_fill(spikes, 0), spikes
    activation = wrap_int32(a_in * (1 << ACT_SHIFT))  # np.left_shift on int32 wraps
    summed = wrap_int32(decay_fixed(u, du + DU_OFFSET) + activation)  # int32 +=
    # One asymmetric wrap (models.py: > 2^23 loses 2^24; <= -2^23 gains 2^24), not a modulo.
    u = torch.where(summed > MAX_UV, summed - 2 * MAX_UV, summed)
    u = torch.where(u <= -MAX_UV, summed + 2 * MAX_UV, u)
    v = wrap_int32(decay_fixed(v, dv + DV_OFFSET) + u + bias)  # int32 sum, then saturate
    v = torch.clamp(v, -(MAX_UV - 1), MAX_UV - 1)
    spikes = v > (vth << VTH_SHIFT)
    v = torch.where(spikes, torch.zeros_like(v), v)
    return u, v, spikes


def dense_effective_weights(weight_int: np.ndarray, num_weight_bits: int = 8) -> np.ndarray:
    """Lava Dense's weights after its first step: sign mode, clip to 8 bits, truncate (weightutils.py).

    EXCITATORY (min >= 0) clips to [0, 255], INHIBITORY (max <= 0) to [−255, 0], MIXED to [−256, 255];
    then ``(W >> nt) << nt`` with nt = 8 − num_weight_bits + mixed (on −W for INHIBITORY).
    """
    w = np.asarray(weight_int).astype(np.int64)
    if w.min() >= 0:
        sign, mixed = 1, 0
    elif w.max() <= 0:
        sign, mixed = -1, 0
    else:
        sign, mixed = 1, 1
    w = sign * w
    w = np.clip(w, -256 * mixed, 255)
    truncate_bits = 8 - num_weight_bits + mixed
    w = (w >> truncate_bits) << truncate_bits
    return sign * w


def shift_by_exp(acc: torch.Tensor, weight_exp: int) -> torch.Tensor:
    """acc << weight_exp, or arithmetic acc >> −weight_exp (floor division by a power of two)."""
    if weight_exp > 0:
        return acc * (1 << weight_exp)
    if weight_exp < 0:
        if acc.is_floating_point():
            return torch.floor(acc / (1 << -weight_exp))
        return torch.div(acc, 1 << -weight_exp, rounding_mode="floor")
    return acc
