"""What the kinds' built-in simulator operators share (enof.runtime.fast): the compiled operator, exact dtypes.

Fixed point mirrors Lava's CPU models (lava.md): integer convolutions and products run in floating point,
which is exact while every partial sum stays below 2^24 (float32) or 2^53 (float64): each operator picks
float32 or float64 from a bound on |input| · max_out Σ|W| and refuses programs beyond 2^53. Fixed-point
operators return float tensors holding exact integers: the simulator's integer types. Imported by a kind
module only when it builds an operator (torch is not loaded by the placer or the Lava worker).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from enof.errors import RunError
from enof.lava_arithmetic import FLOAT32_EXACT, FLOAT64_EXACT, INT32_LIMIT, shift_by_exp, wrap_int32


@dataclass
class SynapseOp:
    """A compiled synapse: ``apply(source)`` maps the source tensor (B, *source_shape) to the target's input."""

    synapse: object  # the enof.runtime.program.Synapse it was built from
    apply: Callable[[torch.Tensor], torch.Tensor]
    bound: int  # an upper bound of |output| (fixed) used to skip wraps that cannot happen; 0 for float


def on_device(array: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A weight array as a ``dtype`` tensor on ``device`` (exact: its integers are below the dtype's bound)."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(device=device, dtype=dtype)


def float32_on(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A float weight as a float32 tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device)


def exact_dtype(bound: float, name: str) -> torch.dtype:
    """float32 when every partial sum stays below 2^24, float64 below 2^53; beyond, a RunError."""
    if bound < FLOAT32_EXACT:
        return torch.float32
    if bound < FLOAT64_EXACT:
        return torch.float64
    raise RunError(f"{name}: integer accumulation bound {bound:.3g} exceeds 2^53; cannot simulate it exactly")


def max_fan_in_abs_sum(weight: np.ndarray) -> int:
    """max over output units of Σ|W| over that unit's inputs (rows of dense, filters of conv)."""
    w = np.abs(np.asarray(weight, dtype=np.int64))
    return int(w.reshape(w.shape[0], -1).sum(axis=1).max()) if w.size else 0


def shift_like_lava(acc: torch.Tensor, exp: int, acc_bound: int, graded: bool) -> torch.Tensor:
    """The end of Lava's Dense/Sparse bit-accurate run_spk: ``acc`` shifted by ``exp``, as its int32 port sends it."""
    shifted_bound = acc_bound << exp if exp > 0 else acc_bound
    if shifted_bound >= FLOAT32_EXACT:
        acc = acc.double()  # the left shift (or wrap) must stay exact
    if graded and acc_bound >= INT32_LIMIT:
        acc = wrap_int32(acc)  # graded: W.dot(s) in int32 wraps before the shift
    acc = shift_by_exp(acc, exp)
    # Binary: sum in int64, shift, then the int32 channel cast wraps (dense/models.py, pypychannel).
    return wrap_int32(acc) if shifted_bound >= INT32_LIMIT else acc


def shifted_op(syn, weight_eff: np.ndarray, input_bound: int, graded: bool, device: torch.device,
               product: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], acc_bound: int) -> SynapseOp:
    """A Dense/Sparse-like operator: ``product(source, weight)`` exact in the dtype ``acc_bound`` needs, then
    Lava's shift by ``syn.weight_exp`` and int32 port."""
    dtype = exact_dtype(acc_bound, syn.name)
    weight = on_device(weight_eff, dtype, device)
    exp = syn.weight_exp
    shifted_bound = acc_bound << exp if exp > 0 else acc_bound

    def apply(s: torch.Tensor) -> torch.Tensor:
        return shift_like_lava(product(s.to(dtype), weight), exp, acc_bound, graded)

    return SynapseOp(syn, apply, min(shifted_bound, INT32_LIMIT))
