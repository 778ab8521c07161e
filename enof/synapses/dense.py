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


def check(conn) -> None:
    """Any shapes: dense flattens its source and its target."""


class DenseCost:
    """What all-to-all synapses cost a core of the target: one axon per source neuron onto every neuron of the
    core, each axon's synapses in blocks (enof.exporter.placement_cost)."""

    row_axes = col_axes = ()  # every core reads the whole source: no spatial reach

    def __init__(self, conn, weight_bits: int):
        self.conn, self.weight_bits, self.n_in = conn, weight_bits, int(np.prod(conn.source_shape))

    def input_axons(self, rows, cols, storage: str) -> int:
        return self.n_in

    def synapse_bits(self, rows, cols, channels: int, storage: str, enc, base_max: int) -> int:
        neurons = (rows[1] - rows[0]) * (cols[1] - cols[0]) * channels
        return int(self.n_in * enc.axon_bits(neurons, self.weight_bits))

    def output_axons(self, block, cores: int, rows: int, cols: int, pixels: np.ndarray, storage: str,
                     slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Every source neuron reaches every core of the target: one axon per neuron and core."""
        return np.zeros_like(pixels), pixels * cores


KIND = SynapseKind("dense", fan_in_events, fan_out, reach, check, flattens=True, placement_cost=DenseCost)
