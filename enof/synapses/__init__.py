"""Synapse kinds: one module per kind (conv, dense, current), each holding one ``SynapseKind``, and the table
of them (``KINDS``) through which every stage reaches a kind's code.

``Connection`` is the one record of a synapse's geometry that every stage passes: the exporter's placer, the
runtime's counts, the energy model's routing. A new kind is its module and an entry in ``KINDS``, plus the
torch module that captures it (enof.exporter.graph.capture_handlers) and its Lava processes
(enof.runtime.lava.builder.LavaNetwork._CONNECT): docs/design.md §8.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from enof.synapses import conv, current, dense
from enof.synapses.kind import SynapseKind, positions

KINDS: dict[str, SynapseKind] = {kind.KIND.name: kind.KIND for kind in (conv, dense, current)}


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

    @property
    def synapse_kind(self) -> SynapseKind:
        return KINDS[self.kind]


def fan_in_events(conn: Connection, events: np.ndarray) -> np.ndarray:
    """Per target neuron (target shape, int64): the events arriving at it, given ``events`` per source
    neuron (source shape): Σ of the events of the source neurons it is connected to."""
    return KINDS[conn.kind].fan_in_events(conn, np.asarray(events, dtype=np.int64))


def fan_out(conn: Connection) -> np.ndarray:
    """Per source neuron (source shape, int64): the synapses it has into the target (padding taps excluded)."""
    return KINDS[conn.kind].fan_out(conn)


def reach(conn: Connection) -> Iterator[tuple[int | slice, np.ndarray]]:
    """(position, flat target indices) pairs: the targets the source neurons at that spatial position
    (``positions``; slice(None): every position) connect to, united over their channels. Positions that
    reach nothing are left out."""
    return KINDS[conn.kind].reach(conn)


__all__ = ["KINDS", "Connection", "SynapseKind", "fan_in_events", "fan_out", "positions", "reach"]
