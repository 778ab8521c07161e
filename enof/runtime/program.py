"""The chip part of a bundle as both backends run it: LIF layers and the synapses between them.

Built from a bundle (``chip.nir`` + ``quant.npz``) by ``enof.runtime.chip_nir.program_from_bundle`` or directly in
memory (tests). Float fields give the trained network; ``*_int`` fields the target's fixed
point (docs/design.md §6). Shapes are torch layout: (C, H, W) or (N,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from enof.formats.fixed_point import GRADED_MESSAGE_BITS, LAVA_STATE_BITS
from enof.formats.identity_synapse import identity_diagonal, is_identity_conv
from enof.formats.quant import input_range
from enof.synapses import KINDS, Connection, OnConnection

INPUT = "input"


@dataclass(frozen=True)
class LifLayer:
    """A population of EnOF LIF neurons. Float: v = decay·v + I + bias; s = v > v_threshold; v[s] = 0.

    Fixed (Lava PyLifModelBitAcc): u = a_in << 6 (du = 4095), v = clip(v·(4096 − dv) >> 12 + u + bias_mant·2^bias_exp)
    to the program's signed state_bits, s = v > vth << 6, v[s] = 0 (enof.formats.fixed_point).
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
class Synapse(OnConnection):
    """Weights on a ``connection`` (enof.synapses: its kind, source (INPUT or a LIF name) and target LIF with
    their shapes, kernel, stride, padding, groups).

    conv: torch Conv2d semantics (cross-correlation), weight (C_out, C_in, kH, kW). ``weight_exp`` must be 0
          (Lava's CPU Conv ignores it) except for an identity conv (``is_identity``), which runs as a
          diagonal (``runs_as``, Lava's Sparse): a_out = (w_c · s) << weight_exp (or >> −weight_exp), like Dense.
    dense: weight (N_out, N_in); the source is flattened in torch (C, H, W) order.
    current: identity, unit weight; the source (INPUT, host-in output) is added to the target's input
             current every step (Loihi 1 current mode).
    """

    name: str
    connection: Connection
    weight: np.ndarray  # float32 (trained, BN folded); for "current" an empty array
    weight_int: np.ndarray  # int32, same shape as weight
    weight_exp: int = 0
    num_weight_bits: int = 8  # Lava Dense proc param; a MIXED-sign dense layer keeps num_weight_bits - 1 bits

    def __post_init__(self):
        if self.weight.shape != self.weight_int.shape:
            raise ValueError(f"{self.name}: weight {self.weight.shape} != weight_int {self.weight_int.shape}")
        want = KINDS[self.kind].weight_shape
        if want is not None and self.weight.shape != want(self.connection):
            raise ValueError(f"{self.name}: weight {self.weight.shape} is not the {self.kind} weight "
                             f"{want(self.connection)} of {self.connection.source_shape} → {self.connection.target_shape}")
        if self.kind == "conv" and self.weight_exp != 0 and not self.is_identity:
            # Lava's CPU Conv models ignore weight_exp (lava.md): the scale must live elsewhere.
            raise ValueError(f"{self.name}: conv weight_exp must be 0, got {self.weight_exp}")

    @classmethod
    def between(cls, name: str, kind: str, source: str, target: str, shapes: dict[str, tuple[int, ...]],
                weight: np.ndarray, weight_int: np.ndarray, weight_exp: int = 0, stride=(1, 1), padding=(0, 0),
                num_weight_bits: int = 8) -> Synapse:
        """A synapse of ``kind`` between layers whose shapes ``shapes`` holds (INPUT included); a 4-D weight's
        last two axes are its kernel."""
        kernel = tuple(weight.shape[2:]) if weight.ndim == 4 else (1, 1)
        conn = Connection(kind, shapes[source], shapes[target], kernel, stride, padding, source=source, target=target)
        return cls(name, conn, weight, weight_int, weight_exp, num_weight_bits)

    @property
    def is_identity(self) -> bool:
        """A 1×1, stride-1, unpadded conv whose float and integer weights are diagonal (C_out == C_in)."""
        return (
            self.kind == "conv"
            and is_identity_conv(self.weight, self.stride, self.padding)
            and is_identity_conv(self.weight_int, self.stride, self.padding)
        )

    @property
    def runs_as(self) -> str:
        """The operator both backends build (Lava's ``LavaNetwork._CONNECT`` key): the kind (a key of
        enof.synapses.KINDS), except an identity conv with ``weight_exp != 0``,
        which runs as a diagonal (Lava's Conv would ignore the exponent; its Sparse applies it)."""
        return "diagonal" if self.kind == "conv" and self.weight_exp != 0 and self.is_identity else self.kind

    @property
    def diagonal_int(self) -> np.ndarray:
        """The per-channel integer weights (C,) of an identity conv."""
        if not self.is_identity:
            raise ValueError(f"{self.name}: not an identity conv")
        return identity_diagonal(self.weight_int)


@dataclass(frozen=True)
class ChipProgram:
    """The whole chip part: layers and synapses in topological order.

    Static input (``input_temporal`` False): one sample is ``input_shape``, the same values every step.
    Temporal input (event frames): one sample is (T, *input_shape), frame t entering at step t as graded
    payloads, or as binary spikes (``input_mode`` "spikes": counts clipped to 1, for targets without graded
    spikes); a current-mode host_in is run once per sample, so it cannot take temporal input.
    """

    timesteps: int
    input_shape: tuple[int, ...]
    input_mode: Literal["graded", "spikes", "current"]  # formats.manifest.INPUT_MODES
    input_scale: float  # x_int = clip(round(x_float * input_scale))
    layers: dict[str, LifLayer]
    synapses: list[Synapse]
    outputs: list[str]
    metadata: dict = field(default_factory=dict)
    input_bits: int = GRADED_MESSAGE_BITS  # x_int is clipped to quant.input_range(input_mode, input_bits)
    state_bits: int = LAVA_STATE_BITS  # width of u and v: the target profile's [fixed_point] state_bits
    input_temporal: bool = False  # a new input frame every step (the manifest's dataset.temporal)

    def __post_init__(self):
        if self.input_temporal and self.input_mode == "current":
            raise ValueError("temporal input enters the chip every step: it needs graded or spike input, not current")
        known = {INPUT, *self.layers}
        for syn in self.synapses:
            if syn.source not in known or syn.target not in self.layers:
                raise ValueError(f"{syn.name}: unknown source {syn.source!r} or target {syn.target!r}")
            ends = (self.shape_of(syn.source), self.shape_of(syn.target))
            if (syn.connection.source_shape, syn.connection.target_shape) != tuple(map(tuple, ends)):
                raise ValueError(f"{syn.name}: connects {syn.connection.source_shape} → {syn.connection.target_shape}, "
                                 f"but {syn.source} is {ends[0]} and {syn.target} is {ends[1]}")
        for out in self.outputs:
            if out not in self.layers:
                raise ValueError(f"output {out!r} is not a LIF layer")

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """x_int = clip(round(x · input_scale)) to the input range (formats.quant.input_range: a signed
        ``input_bits`` integer, or 0..1 for binary spikes: event counts clipped to one spike), int64."""
        low, high = input_range(self.input_mode, self.input_bits)
        x_int = np.rint(np.asarray(x, dtype=np.float64) * self.input_scale)
        return np.clip(x_int, low, high).astype(np.int64)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample as the backends take it: (T, *input_shape) for temporal input, else ``input_shape``."""
        return (self.timesteps, *self.input_shape) if self.input_temporal else tuple(self.input_shape)

    def input_nonzero(self, source: np.ndarray) -> np.ndarray:
        """ChipRun.input_nonzero of a batch ``source`` (B, *sample_shape): non-zero values each input element
        sent, summed over B and the T steps (a static sample is sent at every step)."""
        nonzero = np.asarray(source) != 0
        if self.input_temporal:
            return nonzero.sum(axis=(0, 1), dtype=np.int64)
        return nonzero.sum(axis=0, dtype=np.int64) * self.timesteps

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
    spikes: optional per LIF name, all spikes (T, B, *shape) as uint8 (tests, small runs; Lava always).
    input_events: optional, the non-zero values of the input the chip was sent, (B, *sample_shape) bool (Lava).
    """

    outputs: dict[str, np.ndarray]
    spike_counts: dict[str, np.ndarray]
    input_nonzero: np.ndarray
    spikes: dict[str, np.ndarray] | None = None
    input_events: np.ndarray | None = None
