"""The trained network's float arithmetic: the EnOF LIF step (docs/design.md §1)."""

from __future__ import annotations

import torch


def lif_float_step(
    v: torch.Tensor, current: torch.Tensor, *, decay: float, v_threshold: float, bias: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """v = decay·v + I + bias; s = v > v_threshold (strict); v[s] = 0. Returns (v, spikes as 0/1 of v's dtype).

    The reset happens in the step that spikes, so decay·v_{t−1} already holds v_{t−1}·(1 − s_{t−1}).
    Float arithmetic only (boolean tensors are slow on CPU): with IEEE subnormals x − y > 0 exactly
    when x > y, so sign(v − v_threshold) clamped at 0 is the strict threshold; v − v·1 is exactly 0.
    """
    v = decay * v + current + bias
    spikes = torch.sign(v - v_threshold).clamp_(min=0)
    return v.addcmul_(v, spikes, value=-1), spikes
