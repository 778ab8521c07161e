"""The conv synapse kind: torch Conv2d semantics (cross-correlation, zero padding, dilation 1).

Output position o reads input positions [o·stride − padding, o·stride − padding + kernel) along each spatial
axis, those inside the input; output channel c reads the input channels of its group (``groups`` equal
slices of the channels, as torch's Conv2d). Shapes are torch layout (C, H, W); a flat index is torch order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from enof.synapses.kind import SynapseKind


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


def _covers(conn) -> tuple[np.ndarray, np.ndarray]:
    """The conv_cover matrices of a conv's rows and columns."""
    (_, h_in, w_in), (_, h_out, w_out) = conn.source_shape, conn.target_shape
    return (conv_cover(h_in, h_out, conn.kernel[0], conn.stride[0], conn.padding[0]),
            conv_cover(w_in, w_out, conn.kernel[1], conn.stride[1], conn.padding[1]))  # fmt: skip


def fan_in_events(conn, events: np.ndarray) -> np.ndarray:
    rows, cols = _covers(conn)
    per_group = events.reshape(conn.groups, -1, *events.shape[1:]).sum(axis=1)  # the input channels a group reads
    per_position = rows @ per_group @ cols.T  # (groups, H_out, W_out)
    return np.repeat(per_position, conn.target_shape[0] // conn.groups, axis=0)


def fan_out(conn) -> np.ndarray:
    rows, cols = _covers(conn)
    per_position = (conn.target_shape[0] // conn.groups) * np.outer(rows.sum(axis=0), cols.sum(axis=0))
    return np.broadcast_to(per_position, conn.source_shape).copy()


def reach(conn) -> Iterator[tuple[int, np.ndarray]]:
    (_, h_in, w_in), (c_out, h_out, w_out) = conn.source_shape, conn.target_shape
    ylo, yhi = conv_reach(h_in, h_out, conn.kernel[0], conn.stride[0], conn.padding[0])
    xlo, xhi = conv_reach(w_in, w_out, conn.kernel[1], conn.stride[1], conn.padding[1])
    channel_base = np.arange(c_out, dtype=np.int64)[:, None, None] * (h_out * w_out)  # every group's, united
    for ih in range(h_in):
        rows = np.arange(ylo[ih], yhi[ih] + 1)
        for iw in range(w_in):
            cols = np.arange(xlo[iw], xhi[iw] + 1)
            if rows.size and cols.size:
                yield ih * w_in + iw, (channel_base + (rows[:, None] * w_out + cols[None, :])[None]).ravel()


KIND = SynapseKind("conv", fan_in_events, fan_out, reach)
