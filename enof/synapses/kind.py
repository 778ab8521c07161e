"""What every synapse kind provides (``SynapseKind``), the one geometry record (``Connection``), and the shape
helpers the kinds share.

A kind module (conv, dense, current) fills one ``SynapseKind``; ``enof.synapses.KINDS`` is the table of
them, keyed by the kind's name, through which every stage of the chain reaches a kind's code (its entries
are made in enof/synapses/__init__.py; the dict lives here so that the kinds and Connection share it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def exact_sum_dtype(events: np.ndarray) -> type:
    """The dtype that sums ``events`` exactly and fast: int64 for integer counts, float64 (BLAS products, exact for
    integers below 2^53) for float or bool events, whose values are 0/1 spikes or small counts."""
    return np.int64 if events.dtype.kind in "iu" else np.float64


def positions(shape: tuple[int, ...]) -> int:
    """Spatial positions of a layer: H·W of (C, H, W), 1 of (N,). Flat index n is at position n % positions."""
    return shape[1] * shape[2] if len(shape) == 3 else 1


@dataclass(frozen=True)
class SynapseKind:
    """One synapse kind: each function takes the ``Connection`` (enof.synapses) first.

    Geometry (pure numpy, exact int64): ``fan_in_events(conn, events)`` per target neuron, the events reaching
    it given events per source neuron (events (*batch, *source_shape) → (*batch, *target_shape) int64: leading
    batch axes pass through; integer counts, or the 0/1 floats and bools the simulators hand spikes over as,
    summed in float64 (``exact_sum_dtype``)); ``fan_out(conn)`` per source neuron, its synapses (padding taps
    excluded); ``reach(conn)`` (position, flat target indices) pairs, the targets of the source neurons at a
    spatial position united over their channels. ``check(conn)`` raises ValueError where the shapes do not
    hold together; ``flattens``: the kind reads its source and feeds its target as flat vectors (any shapes
    of the same sizes will do). Placement: ``placement_cost(conn, weight_bits)``, what the kind's synapses
    cost a core (input axons, synapse bits, the output axons of their source).

    Weights (None for the current kind, which is an edge from the input, not a weight node): ``word`` names
    its layers (enof.exporter.names), ``weight_shape(conn)`` is the shape of its weight; ``replay(conn, x,
    weight, bias)`` its float op in torch (x time-major, (T, B, *source) or (B, *source)); ``write_nir(conn,
    weight, bias)`` its chip.nir node. Runtime: ``nir_types()`` the NIR node types read as this kind,
    ``read_nir(src, lif, g)`` the program's Synapse of NIR node ``src`` feeding LIF ``lif`` (``g``: the graph as
    enof.runtime.chip_nir reads it, which also builds the Synapse), ``float_op(syn, device)`` and
    ``fixed_op(syn, input_bound, graded, device)`` its built-in simulator operators (enof.synapses.ops).
    """

    name: str
    fan_in_events: Callable[[Any, np.ndarray], np.ndarray]
    fan_out: Callable[[Any], np.ndarray]
    reach: Callable[[Any], Iterator[tuple[int | slice, np.ndarray]]]
    check: Callable[[Any], None]
    flattens: bool
    placement_cost: Callable[[Any, int], Any]
    nir_types: Callable[[], tuple[type, ...]]
    read_nir: Callable[[str, str, Any], Any]
    float_op: Callable[..., Any]
    fixed_op: Callable[..., Any]
    word: str | None = None
    weight_shape: Callable[[Any], tuple[int, ...]] | None = None
    replay: Callable[..., Any] | None = None
    write_nir: Callable[..., Any] | None = None


KINDS: dict[str, SynapseKind] = {}  # filled by enof.synapses (its __init__ holds the table's entries)


@dataclass(frozen=True)
class Connection:
    """The connectivity of one synapse, weights aside: ``kind`` from ``source_shape`` into ``target_shape``
    (torch layout), from the layer named ``source`` (or "input") into the layer named ``target``.

    conv: every (output channel, output position) from the input positions of its receptive field, over the
          input channels of its group (``groups``); dense: every target neuron from every source neuron;
          current: the input value of neuron n is added to target neuron n (same shape), through no synapse.
    """

    kind: str
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    groups: int = 1
    source: str = field(default="", kw_only=True)
    target: str = field(default="", kw_only=True)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown synapse kind {self.kind!r} (known: {', '.join(KINDS)})")
        for name in ("source_shape", "target_shape", "kernel", "stride", "padding"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        channels = (self.source_shape[0], self.target_shape[0])
        if self.groups < 1 or any(c % self.groups for c in channels):
            raise ValueError(f"{self.source}->{self.target}: {self.groups} groups do not divide the channels {channels}")
        KINDS[self.kind].check(self)

    def fits(self, source_shape: tuple[int, ...], target_shape: tuple[int, ...]) -> bool:
        """Whether layers of these shapes are the ends of this connection: the same shapes, or for a kind that
        flattens, the same numbers of neurons."""
        if KINDS[self.kind].flattens:
            return (int(np.prod(source_shape)), int(np.prod(target_shape))) == (
                int(np.prod(self.source_shape)), int(np.prod(self.target_shape)))
        return (tuple(source_shape), tuple(target_shape)) == (self.source_shape, self.target_shape)


class OnConnection:
    """The geometry of a record that holds it as ``connection`` (the exporter's WeightNode, the runtime's
    Synapse), read through: its kind, the layers it joins and its conv parameters."""

    connection: Connection

    @property
    def kind(self) -> str:
        return self.connection.kind

    @property
    def source(self) -> str:
        return self.connection.source

    @property
    def target(self) -> str:
        return self.connection.target

    @property
    def kernel(self) -> tuple[int, int]:
        return self.connection.kernel

    @property
    def stride(self) -> tuple[int, int]:
        return self.connection.stride

    @property
    def padding(self) -> tuple[int, int]:
        return self.connection.padding
