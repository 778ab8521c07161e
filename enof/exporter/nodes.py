"""The exporter's graph: one small frozen dataclass per node kind, and the ``Graph`` that holds them in
topological order. Built by ``enof.exporter.graph`` (``capture``, ``GraphBuilder``) and
``enof.exporter.from_nir``; shapes are per sample, torch layout, without time or batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from enof.synapses import Connection

INPUT = "input"


@dataclass(frozen=True)
class Node:
    name: str
    sources: tuple[str, ...]
    shape: tuple[int, ...]
    kind_word: ClassVar[str]  # what its readable name calls a layer of this kind (enof.exporter.names)


@dataclass(frozen=True)
class ConvNode(Node):
    """Cross-correlation (torch Conv2d), BN folded: y = conv(x, weight) + bias[:, None, None]."""

    kind_word = "conv"

    weight: np.ndarray = field(repr=False, default=None)  # float32 (C_out, C_in, kH, kW)
    bias: np.ndarray = field(repr=False, default=None)  # float32 (C_out,)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    in_shape: tuple[int, ...] = ()
    role: str = "conv"  # conv | identity-shortcut | shortcut

    def __post_init__(self):
        if self.weight.ndim != 4 or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"{self.name}: weight {self.weight.shape} / bias {self.bias.shape} inconsistent")
        if self.in_shape[0] != self.weight.shape[1] or self.shape[0] != self.weight.shape[0]:
            raise ValueError(f"{self.name}: in {self.in_shape} / out {self.shape} vs weight {self.weight.shape}")

    @property
    def connection(self) -> Connection:
        """Its geometry (enof.synapses): from its (C, H, W) input into its output."""
        return Connection("conv", tuple(self.in_shape), tuple(self.shape), tuple(self.weight.shape[2:]), self.stride,
                          self.padding, target=self.name)  # fmt: skip


@dataclass(frozen=True)
class DenseNode(Node):
    """y = weight @ x + bias on a flat source (N_in,)."""

    kind_word = "fc"

    weight: np.ndarray = field(repr=False, default=None)  # float32 (N_out, N_in)
    bias: np.ndarray = field(repr=False, default=None)  # float32 (N_out,)

    def __post_init__(self):
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise ValueError(f"{self.name}: weight {self.weight.shape} / bias {self.bias.shape} inconsistent")

    @property
    def connection(self) -> Connection:
        """Its geometry (enof.synapses): every output from every one of its flat inputs."""
        return Connection("dense", (int(self.weight.shape[1]),), tuple(self.shape), target=self.name)


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
