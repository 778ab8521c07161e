"""The conv synapse kind: torch Conv2d semantics (cross-correlation, zero padding, dilation 1).

Output position o reads input positions [o·stride − padding, o·stride − padding + kernel) along each spatial
axis, those inside the input; output channel c reads the input channels of its group (``groups`` equal
slices of the channels, as torch's Conv2d). Shapes are torch layout (C, H, W); a flat index is torch order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from enof.errors import BundleError, RunError, UnsupportedModuleError
from enof.formats.fixed_point import CONV_ACC_BITS
from enof.formats.identity_synapse import is_identity_conv
from enof.synapses.kind import Connection, SynapseKind, exact_sum_dtype


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
    lead, exact = events.shape[:-3], exact_sum_dtype(events)  # batch axes, if any
    per_group = events.reshape(*lead, conn.groups, -1, *events.shape[-2:]).sum(axis=-3, dtype=exact)  # its channels
    per_position = rows.astype(exact) @ per_group @ cols.T.astype(exact)  # (*lead, groups, H_out, W_out): integers
    return np.repeat(per_position.astype(np.int64, copy=False), conn.target_shape[0] // conn.groups, axis=-3)


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


def check(conn) -> None:
    want = conv_output_shape((conn.target_shape[0], conn.source_shape[0] // conn.groups, *conn.kernel),
                             (conn.source_shape[0] // conn.groups, *conn.source_shape[1:]), conn.stride, conn.padding)
    if want is None or len(conn.target_shape) != 3 or want[1:] != conn.target_shape[1:]:
        raise ValueError(f"conv from {conn.source or 'its source'} gives {want and want[1:]}, "
                         f"layer shape is {conn.target_shape}")


# ---------------------------------------------------------------- placement cost (enof.exporter.placement_cost)
@dataclass(frozen=True)
class AxisReach:
    """One conv along one spatial axis: which output positions each input position reaches."""

    size_in: int
    size_out: int
    kernel: int
    stride: int
    padding: int

    def __post_init__(self):
        lo, hi = conv_reach(self.size_in, self.size_out, self.kernel, self.stride, self.padding)
        object.__setattr__(self, "lo", lo)
        object.__setattr__(self, "hi", hi)
        object.__setattr__(self, "_blocks", {})

    def in_block(self, o0: int, o1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For the input positions reaching outputs [o0, o1): (first kernel tap, targets, first target − o0)."""
        if (o0, o1) not in self._blocks:
            lo, hi = np.maximum(self.lo, o0), np.minimum(self.hi, o1 - 1)
            used = np.flatnonzero(lo <= hi)
            first = used + self.padding - lo[used] * self.stride
            self._blocks[(o0, o1)] = (first, hi[used] - lo[used] + 1, lo[used] - o0)
        return self._blocks[(o0, o1)]

    def blocks_reached(self, block: int) -> np.ndarray:
        """Per input position: the output blocks of size `block` holding an output it reaches."""
        ok = self.lo <= self.hi
        return np.where(ok, self.hi // block - self.lo // block + 1, 0)

    def source_reach_sums(self, consumer_block: int, block: int) -> np.ndarray:
        """Per source block of `block` positions: Σ over its positions of the consumer blocks (of
        `consumer_block` positions) they reach."""
        cum = np.concatenate([[0], np.cumsum(self.blocks_reached(consumer_block))])
        starts = np.arange(0, self.size_in, block)
        return cum[np.minimum(starts + block, self.size_in)] - cum[starts]


class ConvCost:
    """What a conv's synapses cost a core of its target (docs/placement.md; enof.exporter.placement_cost's
    docstring gives nengo-loihi's model), split into the two spatial axes; groups = 1 only."""

    def __init__(self, conn, weight_bits: int):
        if conn.groups != 1:
            raise ValueError(f"{conn.source}->{conn.target}: the placer's cost model is for groups = 1, got {conn.groups}")
        self.conn, self.weight_bits, self.c_in = conn, weight_bits, conn.source_shape[0]
        (_, h_in, w_in), (_, h_out, w_out) = conn.source_shape, conn.target_shape
        self.rows = AxisReach(h_in, h_out, conn.kernel[0], conn.stride[0], conn.padding[0])
        self.cols = AxisReach(w_in, w_out, conn.kernel[1], conn.stride[1], conn.padding[1])
        self.row_axes, self.col_axes = (self.rows,), (self.cols,)

    def input_axons(self, rows, cols, storage: str) -> int:
        n = len(self.rows.in_block(*rows)[0]) * len(self.cols.in_block(*cols)[0])
        return n * (self.c_in if storage == "discrete" else 1)

    def synapse_bits(self, rows, cols, channels: int, storage: str, enc, base_max: int) -> int:
        fr, nr, orow = self.rows.in_block(*rows)
        fc, nc, ocol = self.cols.in_block(*cols)
        bits, kernel = self.weight_bits, self.conn.kernel
        if storage == "kernel_per_core":
            return int(kernel[0] * kernel[1] * self.c_in * enc.words(channels * bits))
        targets = np.outer(nr, nc) * channels  # per input pixel: the core's neurons it reaches
        if storage == "discrete":
            return int(self.c_in * enc.axon_bits(targets, bits).sum())
        width = cols[1] - cols[0]
        bucket = (orow[:, None] * width + ocol[None, :]) * channels // base_max
        k = max(kernel) + 1  # taps and counts are < k: one int64 code per weight-set key
        keys = (((fr[:, None] * k + nr[:, None]) * k + fc[None, :]) * k + nc[None, :]) * (bucket.max() + 1) + bucket
        _, first = np.unique(keys.ravel(), return_index=True)
        return int(enc.axon_bits(self.c_in * targets.ravel()[first], bits).sum())

    def output_axons(self, block: tuple[int, int, int], cores: int, rows: int, cols: int, pixels: np.ndarray,
                     storage: str, slots: int) -> tuple[np.ndarray, np.ndarray]:
        """(fixed, per channel) output axons of the source's cores of rows × cols, towards the target's cores
        of block shape ``block``: one population axon (``slots`` slots) per source pixel and target core it
        reaches, or per source neuron (discrete)."""
        groups = -(-self.conn.target_shape[0] // block[2])
        reach = np.outer(self.rows.source_reach_sums(block[0], rows), self.cols.source_reach_sums(block[1], cols))
        reach = reach * groups
        zero = np.zeros_like(reach)
        return (zero, reach) if storage == "discrete" else (slots * reach, zero)


# ---------------------------------------------------------------- weights, NIR, replay, simulator
# nir and torch are imported where they are used: the placer, the counts and the Lava worker import the kinds
# for their geometry alone and load neither (enof.exporter's docstring; the worker's start-up time).
def weight_shape(conn) -> tuple[int, ...]:
    return (conn.target_shape[0], conn.source_shape[0] // conn.groups, *conn.kernel)


def replay(conn, x, weight, bias):
    """torch's conv2d on ``x`` (…, C, H, W), the leading (time, batch) axes folded into one batch."""
    import torch.nn.functional as F  # torch: see above

    lead = x.shape[:-3]
    y = F.conv2d(x.flatten(0, len(lead) - 1), weight, bias, stride=conn.stride, padding=conn.padding, groups=conn.groups)
    return y.unflatten(0, lead)


def write_nir(conn, weight: np.ndarray, bias: np.ndarray):
    import nir  # see above

    return nir.Conv2d(input_shape=tuple(conn.source_shape[1:]), weight=weight, stride=tuple(conn.stride),
                      padding=tuple(conn.padding), dilation=(1, 1), groups=conn.groups, bias=bias)  # fmt: skip


def nir_types() -> tuple[type, ...]:
    import nir  # see above

    return (nir.Conv2d,)


def read_nir(src: str, lif: str, g):
    """The Synapse of NIR Conv2d ``src`` feeding LIF ``lif`` (g: enof.runtime.chip_nir's reading of the graph)."""
    node, pre = g.nodes[src], g.presynaptic(src)
    weight = g.weight(src, lif)
    stride, padding = _nir_geometry(src, node, g.label)
    source_shape, target_shape = g.shapes[pre], g.shapes[lif]
    want = conv_output_shape(weight.shape, source_shape, stride, padding)
    if want != target_shape:
        raise BundleError(
            f"{g.label}: conv {src!r} with weight {weight.shape}, stride {stride} and padding {padding} maps "
            f"{pre!r} {source_shape} to {want or 'nothing'}, but feeds LIF {lif!r} {target_shape}"
        )
    weight_int, weight_exp = g.integers(src, weight)
    identity = is_identity_conv(weight, stride, padding) and is_identity_conv(weight_int, stride, padding)
    if weight_exp != 0 and not identity:
        raise BundleError(
            f"{g.quant.label}: {src}.weight_exp holds {weight_exp}, but only an identity shortcut conv may carry "
            "one (Lava's Conv ignores weight_exp): it must be 0"
        )
    conn = Connection("conv", source_shape, target_shape, weight.shape[2:], stride, padding, source=pre, target=lif)
    return g.synapse(src, conn, weight, weight_int, weight_exp)


def _nir_geometry(src: str, node, label: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if np.asarray(node.groups).size != 1 or int(np.asarray(node.groups)) != 1 or tuple(np.broadcast_to(node.dilation, 2)) != (1, 1):
        raise UnsupportedModuleError(f"{src}: grouped or dilated convolutions are not supported")
    if isinstance(node.padding, str):
        raise UnsupportedModuleError(f"{src}: string padding {node.padding!r} is not supported")
    try:
        stride, padding = (tuple(int(i) for i in np.broadcast_to(np.asarray(v), 2)) for v in (node.stride, node.padding))
    except (TypeError, ValueError):
        raise BundleError(f"{label}: conv {src!r} stride {node.stride!r} or padding {node.padding!r} is not a pair of integers") from None
    if min(stride) < 1 or min(padding) < 0:
        raise BundleError(f"{label}: conv {src!r} stride {stride} must be ≥ 1 and padding {padding} ≥ 0")
    return stride, padding


def float_op(syn, device):
    """Float32 conv2d (cross-correlation); also the float diagonal of an identity conv (``Synapse.runs_as``): a
    1×1 conv whose off-diagonal weights are zero, as the trained network ran it."""
    import torch.nn.functional as F  # torch: see above

    from enof.synapses import ops  # torch: see above

    weight = ops.float32_on(syn.weight, device)
    return ops.SynapseOp(syn, lambda s: F.conv2d(s, weight, stride=syn.stride, padding=syn.padding), 0)


def fixed_op(syn, input_bound: int, graded: bool, device):
    """Lava's PyConvModelFixed: exact convolution wrapped to 24 bits, graded or binary alike; an identity conv
    with ``weight_exp ≠ 0`` runs as Lava's Sparse diagonal instead (``Synapse.runs_as``)."""
    import torch.nn.functional as F  # torch: see above

    from enof.lava_arithmetic import INT32_LIMIT, wrap_signed  # torch: see above
    from enof.synapses import ops  # torch: see above

    if syn.runs_as == "diagonal":
        return _fixed_diagonal(syn, input_bound, graded, device)
    acc_bound = input_bound * ops.max_fan_in_abs_sum(syn.weight_int)
    dtype = ops.exact_dtype(acc_bound, syn.name)
    weight = ops.on_device(syn.weight_int, dtype, device)

    def apply(s):
        acc = F.conv2d(s.to(dtype), weight, stride=syn.stride, padding=syn.padding)
        if acc_bound >= INT32_LIMIT and bool((acc.abs() >= INT32_LIMIT).any()):
            # Lava casts the float64 convolution to int32 (conv/utils.py): undefined beyond int32.
            cause = ("the inputs reach the ends of the chip's input range: check their scale (raw values, or "
                     "--normalized ones?)") if graded else "its weights are too large for the chip's arithmetic"
            raise RunError(f"{syn.name}: convolution sum {int(acc.abs().max())} exceeds int32, where the chip's "
                           f"integer convolution (as Lava's Conv computes it) is undefined; {cause}")
        # The wrap's intermediate (acc + 2^23) may pass 2^24: wrap in float64, exact.
        return wrap_signed(acc.double(), CONV_ACC_BITS) if acc_bound >= 2 ** (CONV_ACC_BITS - 1) else acc

    return ops.SynapseOp(syn, apply, min(acc_bound, 2 ** (CONV_ACC_BITS - 1)))


def _fixed_diagonal(syn, input_bound: int, graded: bool, device):
    """Lava's Sparse bit-accurate model (sparse/models.py) of an identity conv's diagonal.

    Sparse clips and truncates like Dense (weightutils.py, sign mode from the matrix's min/max: its implicit
    zeros never change the mode of a diagonal), each output gets one weighted input, the sum is shifted by
    ``weight_exp`` (arithmetic) and sent through an int32 port.
    """
    from enof.lava_arithmetic import dense_effective_weights  # torch: see above
    from enof.synapses import ops  # torch: see above

    diag = dense_effective_weights(syn.diagonal_int, syn.num_weight_bits)
    acc_bound = input_bound * int(np.abs(diag).max(initial=0))
    return ops.shifted_op(syn, diag, input_bound, graded, device, lambda s, w: s * w.reshape(1, -1, 1, 1), acc_bound)


KIND = SynapseKind(
    "conv", fan_in_events, fan_out, reach, check, flattens=False, placement_cost=ConvCost, nir_types=nir_types,
    read_nir=read_nir, float_op=float_op, fixed_op=fixed_op, word="conv", weight_shape=weight_shape, replay=replay,
    write_nir=write_nir,
)
