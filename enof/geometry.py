"""Which neurons a synapse kind connects: the geometry counts, energy routing and the placer share.

Torch Conv2d semantics (cross-correlation, zero padding, groups = 1, dilation = 1), one spatial axis
at a time: output position o reads input positions [o·stride − padding, o·stride − padding + kernel),
those inside the input. Shapes are torch layout, (C, H, W) or (N,); a flat index is torch order.
Each synapse kind is one entry of ``KINDS`` (fan-in events, synapses per source neuron, reach), so
a new kind adds an entry here instead of a branch in every caller. Pure numpy, exact int64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output positions of a conv along one axis of ``size`` inputs (≤ 0 when the kernel does not fit)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_output_shape(weight_shape, source_shape, stride, padding) -> tuple[int, ...] | None:
    """(C_out, H_out, W_out) of a conv with weight (C_out, C_in, kH, kW) on a (C_in, H, W) source, or None
    when the shapes do not fit (ranks, channels, or a kernel larger than the padded input)."""
    if len(weight_shape) != 4 or len(source_shape) != 3 or weight_shape[1] != source_shape[0]:
        return None
    out = [conv_output_size(source_shape[1 + d], weight_shape[2 + d], stride[d], padding[d]) for d in range(2)]
    return (int(weight_shape[0]), *out) if min(out) >= 1 else None


def conv_reach(size_in: int, size_out: int, kernel: int, stride: int, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """Per input position i (int64 arrays of size_in): the first and last output position whose receptive
    field covers i; lo > hi where none does (a stride larger than the kernel skips it)."""
    i = np.arange(size_in, dtype=np.int64)
    lo = np.maximum(0, -(-(i + padding - kernel + 1) // stride))
    hi = np.minimum(size_out - 1, (i + padding) // stride)
    return lo, hi


def conv_cover(size_in: int, size_out: int, kernel: int, stride: int, padding: int) -> np.ndarray:
    """(size_out, size_in) int64 0/1: cover[o, i] = 1 when output position o's receptive field holds input i."""
    first = np.arange(size_out, dtype=np.int64)[:, None] * stride - padding
    i = np.arange(size_in, dtype=np.int64)[None, :]
    return ((i >= first) & (i < first + kernel)).astype(np.int64)


def positions(shape: tuple[int, ...]) -> int:
    """Spatial positions of a layer: H·W of (C, H, W), 1 of (N,). Flat index n is at position n % positions."""
    return shape[1] * shape[2] if len(shape) == 3 else 1


@dataclass(frozen=True)
class Connection:
    """The connectivity of one synapse, weights aside: ``kind`` from ``source_shape`` into ``target_shape``.

    conv: every (output channel, output position) from the input positions of its receptive field (all
          input channels); dense: every target neuron from every source neuron; current: the input value
          of neuron n is added to target neuron n (same shape), through no synapse (Loihi 1 current mode).
    """

    kind: str
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown synapse kind {self.kind!r} (known: {', '.join(KINDS)})")


@dataclass(frozen=True)
class KindGeometry:
    """What one synapse kind connects; each function takes the Connection first."""

    fan_in_events: Callable[[Connection, np.ndarray], np.ndarray]
    fan_out: Callable[[Connection], np.ndarray]
    reach: Callable[[Connection], Iterator[tuple[int | slice, np.ndarray]]]


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


# ---------------------------------------------------------------- conv
def _covers(conn: Connection) -> tuple[np.ndarray, np.ndarray]:
    """The conv_cover matrices of a conv's rows and columns."""
    (_, h_in, w_in), (_, h_out, w_out) = conn.source_shape, conn.target_shape
    return (conv_cover(h_in, h_out, conn.kernel[0], conn.stride[0], conn.padding[0]),
            conv_cover(w_in, w_out, conn.kernel[1], conn.stride[1], conn.padding[1]))  # fmt: skip


def _conv_fan_in_events(conn: Connection, events: np.ndarray) -> np.ndarray:
    rows, cols = _covers(conn)
    per_position = rows @ events.sum(axis=0) @ cols.T  # every input channel reaches every output channel
    return np.broadcast_to(per_position, conn.target_shape).copy()


def _conv_fan_out(conn: Connection) -> np.ndarray:
    rows, cols = _covers(conn)
    per_position = conn.target_shape[0] * np.outer(rows.sum(axis=0), cols.sum(axis=0))
    return np.broadcast_to(per_position, conn.source_shape).copy()


def _conv_reach(conn: Connection) -> Iterator[tuple[int, np.ndarray]]:
    (_, h_in, w_in), (c_out, h_out, w_out) = conn.source_shape, conn.target_shape
    ylo, yhi = conv_reach(h_in, h_out, conn.kernel[0], conn.stride[0], conn.padding[0])
    xlo, xhi = conv_reach(w_in, w_out, conn.kernel[1], conn.stride[1], conn.padding[1])
    channel_base = np.arange(c_out, dtype=np.int64)[:, None, None] * (h_out * w_out)
    for ih in range(h_in):
        rows = np.arange(ylo[ih], yhi[ih] + 1)
        for iw in range(w_in):
            cols = np.arange(xlo[iw], xhi[iw] + 1)
            if rows.size and cols.size:
                yield ih * w_in + iw, (channel_base + (rows[:, None] * w_out + cols[None, :])[None]).ravel()


# ---------------------------------------------------------------- dense
def _dense_fan_in_events(conn: Connection, events: np.ndarray) -> np.ndarray:
    return np.full(conn.target_shape, int(events.sum()), dtype=np.int64)


def _dense_fan_out(conn: Connection) -> np.ndarray:
    return np.full(conn.source_shape, int(np.prod(conn.target_shape)), dtype=np.int64)


def _dense_reach(conn: Connection) -> Iterator[tuple[slice, np.ndarray]]:
    yield slice(None), np.arange(int(np.prod(conn.target_shape)), dtype=np.int64)


# ---------------------------------------------------------------- current
def _current_fan_in_events(conn: Connection, events: np.ndarray) -> np.ndarray:
    return events.reshape(conn.target_shape)


def _current_fan_out(conn: Connection) -> np.ndarray:
    return np.zeros(conn.source_shape, dtype=np.int64)  # the current enters the neuron, not a synapse


def _current_reach(conn: Connection) -> Iterator[tuple[int | slice, np.ndarray]]:
    per_channel = positions(conn.target_shape)
    if per_channel == 1:
        yield slice(None), np.arange(int(np.prod(conn.target_shape)), dtype=np.int64)
        return
    channels = np.arange(conn.target_shape[0], dtype=np.int64) * per_channel
    for position in range(per_channel):
        yield position, channels + position


KINDS: dict[str, KindGeometry] = {
    "conv": KindGeometry(_conv_fan_in_events, _conv_fan_out, _conv_reach),
    "dense": KindGeometry(_dense_fan_in_events, _dense_fan_out, _dense_reach),
    "current": KindGeometry(_current_fan_in_events, _current_fan_out, _current_reach),
}
