"""The dense synapse kind: every target neuron from every source neuron (the source flattened in torch order)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from enof.errors import BundleError
from enof.synapses.kind import Connection, SynapseKind, exact_sum_dtype


def fan_in_events(conn, events: np.ndarray) -> np.ndarray:
    lead = events.shape[: events.ndim - len(conn.source_shape)]  # batch axes, if any
    total = events.reshape(*lead, -1).sum(axis=-1, dtype=exact_sum_dtype(events)).astype(np.int64)
    return np.broadcast_to(total.reshape(*lead, *(1,) * len(conn.target_shape)), (*lead, *conn.target_shape)).copy()


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


# ---------------------------------------------------------------- weights, NIR, replay, simulator
# nir and torch are imported where they are used: the placer, the counts and the Lava worker import the kinds
# for their geometry alone and load neither.
def weight_shape(conn) -> tuple[int, ...]:
    return (int(np.prod(conn.target_shape)), int(np.prod(conn.source_shape)))


def replay(conn, x, weight, bias):
    """torch's linear on a flat ``x`` (…, N_in)."""
    import torch.nn.functional as F  # torch: see above

    return F.linear(x, weight, bias)


def write_nir(conn, weight: np.ndarray, bias: np.ndarray):
    import nir  # see above

    return nir.Affine(weight=weight, bias=bias)


def nir_types() -> tuple[type, ...]:
    import nir  # see above

    return (nir.Linear, nir.Affine)  # an Affine's bias goes into the LIF it feeds (chip_nir._lif_bias)


def read_nir(src: str, lif: str, g):
    """The Synapse of NIR Linear or Affine ``src`` feeding LIF ``lif`` (g: enof.runtime.chip_nir's reading)."""
    pre = g.presynaptic(src)
    weight = g.weight(src, lif)
    source_shape, target_shape = g.shapes[pre], g.shapes[lif]
    if weight.shape != (int(np.prod(target_shape)), int(np.prod(source_shape))):
        raise BundleError(
            f"{g.label}: dense {src!r} weight {weight.shape} does not map {pre!r} {source_shape} to LIF {lif!r} "
            f"{target_shape} (expected {(int(np.prod(target_shape)), int(np.prod(source_shape)))})"
        )
    weight_int, weight_exp = g.integers(src, weight)
    conn = Connection("dense", source_shape, target_shape, source=pre, target=lif)
    return g.synapse(src, conn, weight, weight_int, weight_exp)


def float_op(syn, device):
    """Float32 dense on the torch-order flattened source."""
    import torch.nn.functional as F  # torch: see above

    from enof.synapses import ops  # torch: see above

    weight = ops.float32_on(syn.weight, device)
    return ops.SynapseOp(syn, lambda s: F.linear(s.reshape(s.shape[0], -1), weight), 0)


def fixed_op(syn, input_bound: int, graded: bool, device):
    """Lava's Dense bit-accurate model: weights clipped and truncated, binary spikes or graded payloads
    accumulated exactly, shifted by ``weight_exp``, sent through an int32 port."""
    import torch.nn.functional as F  # torch: see above

    from enof.lava_arithmetic import dense_effective_weights  # torch: see above
    from enof.synapses import ops  # torch: see above

    weight_eff = dense_effective_weights(syn.weight_int, syn.num_weight_bits)
    acc_bound = input_bound * ops.max_fan_in_abs_sum(weight_eff)
    return ops.shifted_op(syn, weight_eff, input_bound, graded, device,
                          lambda s, w: F.linear(s.reshape(s.shape[0], -1), w), acc_bound)  # fmt: skip


KIND = SynapseKind(
    "dense", fan_in_events, fan_out, reach, check, flattens=True, placement_cost=DenseCost, nir_types=nir_types,
    read_nir=read_nir, float_op=float_op, fixed_op=fixed_op, word="fc", weight_shape=weight_shape, replay=replay,
    write_nir=write_nir,
)
