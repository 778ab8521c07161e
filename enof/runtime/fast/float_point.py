"""The trained network's float arithmetic: the EnOF LIF step (docs/design.md §1)."""

from __future__ import annotations

import torch


def lif_float_step(
    v: torch.Tensor, current: torch.Tensor, *, decay: float, v_threshold: float, bias: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """v = decay·v + I + bias; s = v > v_threshold (strict); v[s] = 0. Returns (v, spikes as bool).

    The reset happens in the step that spikes, so decay·v_{t−1} already holds v_{t−1}·(1 − s_{t−1}).
    """
    v = decay * v + current + bias
    spikes = v > v_threshold
    v = torch.where(spikes, torch.zeros_like(v), v)
    return v, spikes
