"""The current kind (Loihi 1 current mode): the input value of neuron n is added to target neuron n (same
shape) every step, through no synapse: the host-in layer's output enters the first LIF as input current."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from enof.errors import BundleError
from enof.synapses.kind import Connection, SynapseKind, positions


def fan_in_events(conn, events: np.ndarray) -> np.ndarray:
    return events.reshape(*events.shape[: events.ndim - len(conn.source_shape)], *conn.target_shape).astype(np.int64)


def fan_out(conn) -> np.ndarray:
    return np.zeros(conn.source_shape, dtype=np.int64)  # the current enters the neuron, not a synapse


def reach(conn) -> Iterator[tuple[int | slice, np.ndarray]]:
    per_channel = positions(conn.target_shape)
    if per_channel == 1:
        yield slice(None), np.arange(int(np.prod(conn.target_shape)), dtype=np.int64)
        return
    channels = np.arange(conn.target_shape[0], dtype=np.int64) * per_channel
    for position in range(per_channel):
        yield position, channels + position


def check(conn) -> None:
    if conn.source_shape != conn.target_shape:
        raise ValueError(f"the input {conn.source_shape} feeds {conn.target or 'a LIF'} {conn.target_shape} as current; "
                         "shapes differ")


class CurrentCost:
    """The current enters the neurons from the host: no input axon, no synapse, no output axon of a source."""

    row_axes = col_axes = ()

    def __init__(self, conn, weight_bits: int):
        self.conn = conn

    def input_axons(self, rows, cols, storage: str) -> int:
        return 0

    def synapse_bits(self, rows, cols, channels: int, storage: str, enc, base_max: int) -> int:
        return 0

    def output_axons(self, block, cores: int, rows: int, cols: int, pixels: np.ndarray, storage: str,
                     slots: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros_like(pixels), np.zeros_like(pixels)


# ---------------------------------------------------------------- NIR, simulator
def nir_types() -> tuple[type, ...]:
    import nir  # nir is loaded where it is used: the placer and the Lava worker use the geometry alone

    return (nir.Input,)  # an edge Input → LIF


def read_nir(src: str, lif: str, g):
    """The current synapse of the edge from the Input ``src`` to LIF ``lif`` (enof.runtime.chip_nir)."""
    if g.shapes[src] != g.shapes[lif]:
        raise BundleError(f"{g.label}: the input {g.shapes[src]} feeds LIF {lif!r} {g.shapes[lif]} as current; shapes differ")
    empty = np.zeros((0,), np.float32)
    conn = Connection("current", g.shapes[src], g.shapes[lif], source=src, target=lif)
    return g.synapse(f"{src}->{lif}", conn, empty, empty.astype(np.int32), 0)


def float_op(syn, device):
    from enof.synapses import ops  # torch: loaded when the simulator builds its operators

    return ops.SynapseOp(syn, lambda x: x, 0)


def fixed_op(syn, input_bound: int, graded: bool, device):
    from enof.synapses import ops  # torch: loaded when the simulator builds its operators

    return ops.SynapseOp(syn, lambda x: x, input_bound)


KIND = SynapseKind(
    "current", fan_in_events, fan_out, reach, check, flattens=False, placement_cost=CurrentCost,
    nir_types=nir_types, read_nir=read_nir, float_op=float_op, fixed_op=fixed_op,
)
