"""Synapse kinds: one module per kind (conv, dense, current), each holding one ``SynapseKind``, and the table
of them (``KINDS``) through which every stage reaches a kind's code.

``Connection`` is the one record of a synapse's geometry that every stage passes: the exporter's weight nodes
and placer, the runtime's synapses and counts, the energy model's routing. A new kind is its module and an entry in ``KINDS``, plus the
torch module that captures it (enof.exporter.graph.capture_handlers) and its Lava processes
(enof.runtime.lava.builder.LavaNetwork._CONNECT): docs/design.md §8.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from enof.synapses import conv, current, dense
from enof.synapses.kind import KINDS, Connection, OnConnection, SynapseKind, positions

# The table of kinds: a new kind is its module and its entry here.
KINDS.update({kind.KIND.name: kind.KIND for kind in (conv, dense, current)})


def fan_in_events(conn: Connection, events: np.ndarray) -> np.ndarray:
    """Per target neuron (target shape, int64): the events arriving at it, given ``events`` per source
    neuron (source shape, or any of the same size): Σ of the events of the source neurons it is connected to."""
    return KINDS[conn.kind].fan_in_events(conn, np.asarray(events, dtype=np.int64).reshape(conn.source_shape))


def fan_in_events_batch(conn: Connection, events: np.ndarray) -> np.ndarray:
    """``fan_in_events`` of B samples at once: events (B, source shape or any of its size) → (B, target shape)
    int64, row b equal to fan_in_events(conn, events[b]). Integer counts, or 0/1 spikes as float or bool (summed in
    float64, not copied to int64 first: the simulators' per-step spikes)."""
    events = np.asarray(events)
    return KINDS[conn.kind].fan_in_events(conn, events.reshape(len(events), *conn.source_shape))


def fan_out(conn: Connection) -> np.ndarray:
    """Per source neuron (source shape, int64): the synapses it has into the target (padding taps excluded)."""
    return KINDS[conn.kind].fan_out(conn)


def reach(conn: Connection) -> Iterator[tuple[int | slice, np.ndarray]]:
    """(position, flat target indices) pairs: the targets the source neurons at that spatial position
    (``positions``; slice(None): every position) connect to, united over their channels. Positions that
    reach nothing are left out."""
    return KINDS[conn.kind].reach(conn)


__all__ = ["KINDS", "Connection", "OnConnection", "SynapseKind", "fan_in_events", "fan_in_events_batch", "fan_out", "positions", "reach"]
