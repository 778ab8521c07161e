"""Synapse operators of the fast simulator: one builder per operator (``Synapse.runs_as``) and precision.

Fixed point mirrors Lava's CPU models (lava.md): Dense clips/truncates its weights, accumulates
binary spikes or graded payloads exactly and shifts by ``weight_exp``; Conv convolves exactly and
wraps to 24 bits (``weight_exp`` ignored); an identity conv with ``weight_exp != 0`` is Lava's
Sparse diagonal, which clips/truncates and shifts exactly like Dense; current mode adds ``x_int``.
Integer convolutions and products run in floating point, which is exact while every partial sum
stays below 2^24 (float32) or 2^53 (float64): each operator picks float32 or float64 from a bound on
|input| · max_out Σ|W| and refuses programs beyond 2^53. Fixed-point operators return float tensors
holding exact integers (float32 below 2^24, float64 below 2^53): the simulator's integer types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from enof.errors import RunError
from enof.formats.fixed_point import CONV_ACC_BITS
from enof.runtime.fast.fixed_point import (
    FLOAT32_EXACT,
    FLOAT64_EXACT,
    INT32_LIMIT,
    dense_effective_weights,
    shift_by_exp,
    wrap_int32,
    wrap_signed,
)
from enof.runtime.program import Synapse


@dataclass
class SynapseOp:
    """A compiled synapse: ``apply(source)`` maps the source tensor (B, *source_shape) to the target's input."""

    synapse: Synapse
    apply: Callable[[torch.Tensor], torch.Tensor]
    bound: int  # an upper bound of |output| (fixed) used to skip wraps that cannot happen; 0 for float


_CPU = torch.device("cpu")


def _on(array: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A weight array as a ``dtype`` tensor on ``device`` (exact: its integers are below the dtype's bound)."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(device=device, dtype=dtype)


def _exact_dtype(bound: float, name: str) -> torch.dtype:
    if bound < FLOAT32_EXACT:
        return torch.float32
    if bound < FLOAT64_EXACT:
        return torch.float64
    raise RunError(f"{name}: integer accumulation bound {bound:.3g} exceeds 2^53; cannot simulate it exactly")


def _max_fan_in_abs_sum(weight: np.ndarray) -> int:
    """max over output units of Σ|W| over that unit's inputs (rows of dense, filters of conv)."""
    w = np.abs(np.asarray(weight, dtype=np.int64))
    return int(w.reshape(w.shape[0], -1).sum(axis=1).max()) if w.size else 0


def build_float_op(syn: Synapse, device: torch.device = _CPU) -> SynapseOp:
    """Float32 operator: torch conv2d (cross-correlation), dense on the torch-order flattened source, or identity;
    its weights on ``device``."""
    return _FLOAT_OPS[syn.runs_as](syn, device)


def build_fixed_op(syn: Synapse, input_bound: int, graded: bool, device: torch.device = _CPU) -> SynapseOp:
    """Int64 operator bit-exact with Lava's fixed_pt model of this synapse, its weights on ``device``.

    ``input_bound`` bounds |source values| (1 for spikes, max |x_int| for the input); ``graded``
    selects Lava's graded path (num_message_bits > 0: payloads multiply the weights).
    """
    return _FIXED_OPS[syn.runs_as](syn, input_bound, graded, device)


def _float_current(syn: Synapse, device: torch.device) -> SynapseOp:
    return SynapseOp(syn, lambda x: x, 0)


def _float_conv(syn: Synapse, device: torch.device) -> SynapseOp:
    """Also the float diagonal: a 1×1 conv whose off-diagonal weights are zero, as the trained network ran it."""
    weight = torch.from_numpy(np.ascontiguousarray(syn.weight, dtype=np.float32)).to(device)
    return SynapseOp(syn, lambda s: F.conv2d(s, weight, stride=syn.stride, padding=syn.padding), 0)


def _float_dense(syn: Synapse, device: torch.device) -> SynapseOp:
    weight = torch.from_numpy(np.ascontiguousarray(syn.weight, dtype=np.float32)).to(device)
    return SynapseOp(syn, lambda s: F.linear(s.reshape(s.shape[0], -1), weight), 0)


def _fixed_current(syn: Synapse, input_bound: int, graded: bool, device: torch.device) -> SynapseOp:
    return SynapseOp(syn, lambda x: x, input_bound)


def _fixed_conv(syn: Synapse, input_bound: int, graded: bool, device: torch.device) -> SynapseOp:
    """Lava's PyConvModelFixed: exact convolution wrapped to 24 bits; graded or binary alike."""
    acc_bound = input_bound * _max_fan_in_abs_sum(syn.weight_int)
    dtype = _exact_dtype(acc_bound, syn.name)
    weight = _on(syn.weight_int, dtype, device)

    def apply(s: torch.Tensor) -> torch.Tensor:
        acc = F.conv2d(s.to(dtype), weight, stride=syn.stride, padding=syn.padding)
        if acc_bound >= INT32_LIMIT and bool((acc.abs() >= INT32_LIMIT).any()):
            # Lava casts the float64 convolution to int32 (conv/utils.py): undefined beyond int32.
            raise RunError(f"{syn.name}: convolution sum {int(acc.abs().max())} exceeds int32 in Lava's Conv model")
        # The wrap's intermediate (acc + 2^23) may pass 2^24: wrap in float64, exact.
        return wrap_signed(acc.double(), CONV_ACC_BITS) if acc_bound >= 2 ** (CONV_ACC_BITS - 1) else acc

    return SynapseOp(syn, apply, min(acc_bound, 2 ** (CONV_ACC_BITS - 1)))


def _fixed_dense(syn: Synapse, input_bound: int, graded: bool, device: torch.device) -> SynapseOp:
    weight_eff = dense_effective_weights(syn.weight_int, syn.num_weight_bits)
    acc_bound = input_bound * _max_fan_in_abs_sum(weight_eff)
    dtype = _exact_dtype(acc_bound, syn.name)
    weight = _on(weight_eff, dtype, device)
    exp = syn.weight_exp
    shifted_bound = acc_bound << exp if exp > 0 else acc_bound

    def apply(s: torch.Tensor) -> torch.Tensor:
        return _shift_like_lava(F.linear(s.reshape(s.shape[0], -1).to(dtype), weight), exp, acc_bound, graded)

    return SynapseOp(syn, apply, min(shifted_bound, INT32_LIMIT))


def _shift_like_lava(acc: torch.Tensor, exp: int, acc_bound: int, graded: bool) -> torch.Tensor:
    """The end of Lava's Dense/Sparse bit-accurate run_spk: ``acc`` shifted by ``exp``, as its int32 port sends it."""
    shifted_bound = acc_bound << exp if exp > 0 else acc_bound
    if shifted_bound >= FLOAT32_EXACT:
        acc = acc.double()  # the left shift (or wrap) must stay exact
    if graded and acc_bound >= INT32_LIMIT:
        acc = wrap_int32(acc)  # graded: W.dot(s) in int32 wraps before the shift
    acc = shift_by_exp(acc, exp)
    # Binary: sum in int64, shift, then the int32 channel cast wraps (dense/models.py, pypychannel).
    return wrap_int32(acc) if shifted_bound >= INT32_LIMIT else acc


def _fixed_identity(syn: Synapse, input_bound: int, graded: bool, device: torch.device) -> SynapseOp:
    """Lava's Sparse bit-accurate model (sparse/models.py) of an identity conv's diagonal.

    Sparse clips and truncates like Dense (weightutils.py, sign mode from the matrix's min/max: its
    implicit zeros never change the mode of a diagonal), each output gets one weighted input, the
    sum is shifted by ``weight_exp`` (arithmetic) and sent through an int32 port.
    """
    diag = dense_effective_weights(syn.diagonal_int, syn.num_weight_bits)
    acc_bound = input_bound * int(np.abs(diag).max(initial=0))
    dtype = _exact_dtype(acc_bound, syn.name)
    weight = _on(diag, dtype, device).reshape(1, -1, 1, 1)
    exp = syn.weight_exp
    shifted_bound = acc_bound << exp if exp > 0 else acc_bound

    def apply(s: torch.Tensor) -> torch.Tensor:
        return _shift_like_lava(s.to(dtype) * weight, exp, acc_bound, graded)

    return SynapseOp(syn, apply, min(shifted_bound, INT32_LIMIT))


_FLOAT_OPS: dict[str, Callable[[Synapse, torch.device], SynapseOp]] = {
    "conv": _float_conv, "dense": _float_dense, "current": _float_current, "diagonal": _float_conv,
}
_FIXED_OPS: dict[str, Callable[[Synapse, int, bool, torch.device], SynapseOp]] = {
    "conv": _fixed_conv, "dense": _fixed_dense, "current": _fixed_current, "diagonal": _fixed_identity,
}
