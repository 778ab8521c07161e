"""The float EnOF LIF step (docs/design.md §1), shared by the trainer, the exporter's replay and the
built-in simulator's float mode. Torch only: no Norse, no trainer, so the runtime may import it.

Discrete time, one state per neuron, hard reset to 0::

    v_t = decay · v_{t-1} · (1 − s_{t-1}) + I_t
    s_t = H(v_t − v_threshold)        (strict >, so v_t == v_threshold does not spike)

written as Norse's LIFBox Euler step (``norse/torch/functional/lif_box.py``) with ``dt = 1``,
``dt·tau_mem_inv = 1 − decay``, ``v_leak = v_reset = 0`` and the input scaled by ``1/(1 − decay)``:
``v ← v + (1 − decay)·(I/(1 − decay) − v)``. That is the update above in exact arithmetic and the
trainer's arithmetic to the last bit (tests/trainer/test_neurons.py holds it to Norse's own step, values
and gradients); in float32 it differs from ``decay·v + I`` by an ulp or so, which the replay and
simulator tests' tolerances state.
"""

from __future__ import annotations

from typing import Callable

import torch

SpikeFunction = Callable[[torch.Tensor], torch.Tensor]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """1 where x > 0 (strict), else 0 (NaN too), in x's dtype and storage; no gradient (inference).

    An in-place float comparison: a boolean tensor and its conversion cost two passes more on CPU.
    """
    return x.gt_(0)


def lif_integrate(
    v: torch.Tensor | None, current: torch.Tensor, *, decay: float, bias: torch.Tensor | float | None = None
) -> torch.Tensor:
    """``v_t`` before threshold and reset, from ``v_{t-1}`` after reset (``None``: the resting membrane,
    v = 0) and ``I_t``; ``bias``: a constant added to the input (a chip layer's ``bias_float``; the
    trainer's convs carry their own). A new tensor; the arguments are not modified. ``decay = 1`` is an
    integrate-and-fire layer (a NIR IF graph): v ← v + I, with no gain to fold."""
    if decay == 1.0:
        driven = current if bias is None else current + bias
        return driven.clone() if v is None else driven + v
    dt_tau_mem_inv = 1.0 - decay
    driven = current * (1.0 / dt_tau_mem_inv) if bias is None else (current + bias).mul_(1.0 / dt_tau_mem_inv)
    if v is None:  # v + k·(driven − v) at v = 0, exactly
        return driven.mul_(dt_tau_mem_inv)
    return driven.sub_(v).mul_(dt_tau_mem_inv).add_(v)


def lif_fire(v_integrated: torch.Tensor, *, v_threshold: float, spike: SpikeFunction) -> tuple[torch.Tensor, torch.Tensor]:
    """``(s_t, v_t after reset)`` from ``v_t`` before them. ``spike`` maps ``v_t − v_threshold`` to 0/1 (the
    trainer passes its surrogate); it gets a temporary made here, which it may overwrite (``heaviside`` does)."""
    spikes = spike(v_integrated - v_threshold)
    return spikes, (1 - spikes).mul_(v_integrated)


def lif_step(
    current: torch.Tensor,
    v: torch.Tensor | None,
    *,
    decay: float,
    v_threshold: float,
    spike: SpikeFunction,
    bias: torch.Tensor | float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF step, :func:`lif_integrate` then :func:`lif_fire`: ``(I_t, v_{t-1} after reset) -> (s_t, v_t
    after reset)``, the signature every LIF step in enof has: (input, state) → (spikes, state), as Norse's.

    Pure function: no argument is modified. Its operations and their order are the trainer's (the
    module docstring); the in-place ones act only on tensors made here, so they change neither values
    nor gradients, and they save the simulator's hot loop an allocation each (about half of a float
    run on the digits net is this step).
    """
    return lif_fire(lif_integrate(v, current, decay=decay, bias=bias), v_threshold=v_threshold, spike=spike)
