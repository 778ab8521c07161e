"""The trained network's float arithmetic: the EnOF LIF step of enof.lif (docs/design.md §1) on a chip layer."""

from __future__ import annotations

import torch

from enof.lif import heaviside, lif_step


def lif_float_step(
    current: torch.Tensor, v: torch.Tensor, *, decay: float, v_threshold: float, bias: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The LIF step on I + bias (the layer's bias_float: the sum of the chip.nir biases of the weight nodes
    feeding it; NIR's LIF has none); strict threshold, reset to 0 in the step that spikes. Returns
    (spikes as 0/1 of v's dtype, v after reset): enof.lif.lif_step's signature."""
    return lif_step(current, v, decay=decay, v_threshold=v_threshold, spike=heaviside, bias=bias)
