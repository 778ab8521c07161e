"""The chip part of a bundle as both backends run it: LIF layers and the synapses between them.

Built from a bundle (``chip.nir`` + ``quant.npz``) by ``program_from_bundle`` or directly in
memory (tests). Float fields give the trained network; ``*_int`` fields the target's fixed
point (docs/design.md §6). Shapes are torch layout: (C, H, W) or (N,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

INPUT = "input"

SynapseKind = Literal["conv", "dense", "current"]


@dataclass(frozen=True)
class LifLayer:
    """A population of EnOF LIF neurons. Float: v = decay·v + I + bias; s = v > v_threshold; v[s] = 0.

    Fixed (Lava PyLifModelBitAcc): u = a_in << 6 (du = 4095), v = clip(v·(4096 − dv) >> 12 + u + bias_mant·2^bias_exp),
    s = v > vth << 6, v[s] = 0.
    """

    name: str
    shape: tuple[int, ...]
    decay: float
    v_threshold: float
    bias_float: np.ndarray  # float32, shape
    vth: int
    du: int
    dv: int
    bias_mant: np.ndarray  # int32, shape
    bias_exp: int
    scale: float  # v units (fixed) per float unit

    def __post_init__(self):
        if tuple(self.bias_float.shape) != tuple(self.shape):
            raise ValueError(f"{self.name}: bias_float shape {self.bias_float.shape} != {self.shape}")
        if tuple(self.bias_mant.shape) != tuple(self.shape):
            raise ValueError(f"{self.name}: bias_mant shape {self.bias_mant.shape} != {self.shape}")

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Synapse:
    """Weights from ``source`` (INPUT or a LIF name) into the LIF ``target``.

    conv: torch Conv2d semantics (cross-correlation), weight (C_out, C_in, kH, kW).
    dense: weight (N_out, N_in); the source is flattened in torch (C, H, W) order.
    current: identity, unit weight; the source (INPUT, host-in output) is added to the target's input
             current every step (Loihi 1 current mode).
    """

    name: str
    kind: SynapseKind
    source: str
    target: str
    weight: np.ndarray  # float32 (trained, BN folded); for "current" an empty array
    weight_int: np.ndarray  # int32, same shape as weight
    weight_exp: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    num_weight_bits: int = 8  # Lava Dense proc param; a MIXED-sign dense layer keeps num_weight_bits - 1 bits

    def __post_init__(self):
        if self.kind not in ("conv", "dense", "current"):
            raise ValueError(f"{self.name}: unknown synapse kind {self.kind!r}")
        if self.weight.shape != self.weight_int.shape:
            raise ValueError(f"{self.name}: weight {self.weight.shape} != weight_int {self.weight_int.shape}")
        if self.kind == "conv" and self.weight_exp != 0:
            # Lava's CPU Conv models ignore weight_exp (lava.md): the scale must live elsewhere.
            raise ValueError(f"{self.name}: conv weight_exp must be 0, got {self.weight_exp}")


@dataclass(frozen=True)
class ChipProgram:
    """The whole chip part: layers and synapses in topological order."""

    timesteps: int
    input_shape: tuple[int, ...]
    input_mode: Literal["graded", "current"]
    input_scale: float  # x_int = clip(round(x_float * input_scale))
    layers: dict[str, LifLayer]
    synapses: list[Synapse]
    outputs: list[str]
    metadata: dict = field(default_factory=dict)
    input_bits: int = 24  # x_int is clipped to a signed input_bits integer (graded payload / current)

    def __post_init__(self):
        known = {INPUT, *self.layers}
        for syn in self.synapses:
            if syn.source not in known or syn.target not in self.layers:
                raise ValueError(f"{syn.name}: unknown source {syn.source!r} or target {syn.target!r}")
        for out in self.outputs:
            if out not in self.layers:
                raise ValueError(f"output {out!r} is not a LIF layer")

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """x_int = clip(round(x · input_scale)) to a signed ``input_bits`` integer, int64, same shape as x."""
        limit = 2 ** (self.input_bits - 1)
        x_int = np.rint(np.asarray(x, dtype=np.float64) * self.input_scale)
        return np.clip(x_int, -limit, limit - 1).astype(np.int64)

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.input_shape if name == INPUT else self.layers[name].shape

    def incoming(self, lif_name: str) -> list[Synapse]:
        return [s for s in self.synapses if s.target == lif_name]

    def depths(self) -> dict[str, int]:
        """Synaptic depth of each LIF (input = 0): the longest path in synapses (Lava adds one step per synapse)."""
        depth = {INPUT: 0}
        for name in self.layers:  # layers are in topological order
            depth[name] = 1 + max(depth[s.source] for s in self.incoming(name))
        return depth


@dataclass
class ChipRun:
    """What a backend returns for a batch, in aligned time (the contract of both backends).

    outputs: per output LIF name, float32 0/1 spikes (T, B, *shape).
    spike_counts: per LIF name, int64 spikes per neuron (the LIF's shape), summed over T and B.
    input_nonzero: int64 (input_shape): how many non-zero input values each input element sent,
        summed over T and B (graded payloads or currents; the synop count of the input synapses).
    spikes: optional per LIF name, all spikes (T, B, *shape) as uint8 (tests, small runs).
    """

    outputs: dict[str, np.ndarray]
    spike_counts: dict[str, np.ndarray]
    input_nonzero: np.ndarray
    spikes: dict[str, np.ndarray] | None = None
