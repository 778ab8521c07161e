"""The exporter's graph: one small frozen dataclass per node kind, and the ``Graph`` that holds them in
topological order. Built by ``enof.exporter.graph`` (``capture``, ``GraphBuilder``) and
``enof.exporter.from_nir``; shapes are per sample, torch layout, without time or batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from enof.formats.identity_synapse import is_identity_conv
from enof.synapses import KINDS, Connection, OnConnection

INPUT = "input"


@dataclass(frozen=True)
class Node:
    name: str
    sources: tuple[str, ...]
    shape: tuple[int, ...]
    kind_word: ClassVar[str]  # what its readable name calls a layer of this kind (enof.exporter.names)


@dataclass(frozen=True)
class WeightNode(OnConnection, Node):
    """Synapses of one kind, BN folded: y = the kind's op on x (``connection``, enof.synapses) with ``weight``,
    plus ``bias`` per output channel. conv: torch Conv2d (cross-correlation), weight (C_out, C_in, kH, kW);
    dense: y = weight @ x + bias on a flat source (N_in,)."""

    connection: Connection = None  # its geometry: kind, source and target shapes, kernel, stride, padding
    weight: np.ndarray = field(repr=False, default=None)  # float32, the kind's weight_shape
    bias: np.ndarray = field(repr=False, default=None)  # float32 (C_out,) or (N_out,)
    role: str = ""  # conv: conv | identity-shortcut | shortcut

    def __post_init__(self):
        want = KINDS[self.connection.kind].weight_shape(self.connection)
        if self.weight.shape != want or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"{self.name}: weight {self.weight.shape} / bias {self.bias.shape} inconsistent with "
                             f"{self.connection.kind} weight {want}")
        if tuple(self.shape) != self.connection.target_shape:
            raise ValueError(f"{self.name}: shape {self.shape} is not its {self.connection.kind}'s output "
                             f"{self.connection.target_shape}")

    @property
    def kind_word(self) -> str:
        return KINDS[self.connection.kind].word

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.connection.source_shape

    @property
    def is_identity(self) -> bool:
        """A 1×1, stride-1, unpadded conv whose weights are diagonal (a residual block's identity shortcut)."""
        return self.kind == "conv" and is_identity_conv(self.weight, self.stride, self.padding)


@dataclass(frozen=True)
class FlattenNode(Node):
    """A view: the source's values flattened per sample, torch order."""

    kind_word = "flatten"
    in_shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class LifNode(Node):
    """EnOF LIF (design.md §1) on the sum of its sources: v = decay·v·(1−s) + I; s = v > v_threshold."""

    kind_word = "act"

    decay: float = 0.25
    v_threshold: float = 0.5


@dataclass(frozen=True)
class ReluNode(Node):
    """ReLU on the sum of its sources (the RepAct ReLU: graded output, host only)."""

    kind_word = "act"


@dataclass(frozen=True)
class PoolNode(Node):
    """The head's pool: mean over space (and over the T timesteps) → feature (C,)."""

    kind_word = "pool"


@dataclass(frozen=True)
class Graph:
    nodes: dict[str, Node]  # topological order
    input_shape: tuple[int, ...]
    timesteps: int
    output: str  # the classifier node (logits)
    module_paths: dict[str, str]  # node name → the torch module path it came from

    def consumers(self, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if name in n.sources]

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.input_shape if name == INPUT else self.nodes[name].shape

    def spiking_source(self, name: str) -> str:
        """The activation (or ``input``) whose values reach ``name``'s consumer, looking through Flatten views."""
        while name != INPUT and isinstance(self.nodes[name], FlattenNode):
            name = self.nodes[name].sources[0]
        return name
