"""The dense synapse kind: every target neuron from every source neuron (the source flattened in torch order)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from enof.synapses.kind import SynapseKind


def fan_in_events(conn, events: np.ndarray) -> np.ndarray:
    return np.full(conn.target_shape, int(events.sum()), dtype=np.int64)


def fan_out(conn) -> np.ndarray:
    return np.full(conn.source_shape, int(np.prod(conn.target_shape)), dtype=np.int64)


def reach(conn) -> Iterator[tuple[slice, np.ndarray]]:
    yield slice(None), np.arange(int(np.prod(conn.target_shape)), dtype=np.int64)


KIND = SynapseKind("dense", fan_in_events, fan_out, reach)
