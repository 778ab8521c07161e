"""The chip part of an export as a lava-dl netx file (chip.net.h5, enof.formats.netx), or why it cannot be one.

netx reads strictly sequential conv/dense/flatten networks with one CUBA LIF per layer, biases at exponent 6
and dense weights it re-derives itself (shared/reference/netx.md). ``netx_outcome`` walks the chip LIFs in
order and writes the quantized integers unchanged where netx computes exactly what enof's simulator does; else
it names the first layer that netx cannot take and the reason, and no file is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from enof.errors import UnsupportedModuleError
from enof.exporter.graph import INPUT, LifNode, WeightNode
from enof.formats.netx import NETX_FILE, NetxLayer, bias_at_netx_exp, dense_read_problem, netx_bytes

NetxMode = Literal["auto", "required", "off"]
NETX_MODES = ("auto", "required", "off")


@dataclass(frozen=True)
class NetxOutcome:
    """The netx file's bytes, or None and the one-line reason (the manifest's ``netx`` record)."""

    data: bytes | None
    reason: str = ""

    def record(self) -> dict[str, str]:
        return {"file": NETX_FILE} if self.data is not None else {"skipped": self.reason}


class _NotExpressible(Exception):
    pass


def netx_outcome(prep, mode: NetxMode = "auto") -> NetxOutcome:
    """chip.net.h5 for a PreparedExport (enof.exporter.export), or the reason it has none; ``mode`` "required"
    raises UnsupportedModuleError with that reason, "off" skips it."""
    if mode not in NETX_MODES:
        raise UnsupportedModuleError(f"--netx {mode!r}: one of {', '.join(NETX_MODES)}")
    if mode == "off":
        return NetxOutcome(None, "not written (enof-export --netx off)")
    try:
        layers = netx_layers(prep)
    except _NotExpressible as why:
        if mode == "required":
            raise UnsupportedModuleError(f"--netx required: no {NETX_FILE}: {why}") from None
        return NetxOutcome(None, str(why))
    return NetxOutcome(netx_bytes(prep.graph.input_shape, layers))


def netx_layers(prep) -> list[NetxLayer]:
    """The chip LIFs in order, each with the one weight layer feeding it from the LIF before (or the input); the
    first layer netx cannot take raises, structure (a residual add, a skip) before integers (weights, biases)."""
    graph, part, quant, profile = prep.graph, prep.partition, prep.quant, prep.profile
    if not bool(profile.target.graded_spikes.value):
        raise _NotExpressible(f"the {profile.name} target has no graded spikes: netx files are written for Loihi 2 "
                              "targets (Loihi2SimCfg / Loihi2HwCfg)")
    if part.input_mode != "graded":
        raise _NotExpressible(f"{part.input_mode} input: netx takes graded input spikes into its first layer")
    chip = set(part.names("chip"))
    lifs = [n for n in graph.nodes.values() if isinstance(n, LifNode) and n.name in chip]
    if not lifs:
        raise _NotExpressible("no LIF layer on the chip")
    feeding, previous = [], INPUT  # the structure first: no integer choice makes a residual network sequential
    for lif in lifs:
        sources = [s for s in lif.sources if s in chip]
        if len(sources) != 1:
            raise _NotExpressible(f"{lif.name}: fed by {' + '.join(sources) or 'nothing on the chip'} (a residual add): "
                                  "netx reads only strictly sequential networks")
        node = graph.nodes[sources[0]]
        source = graph.spiking_source(node.sources[0])
        if source != previous:
            raise _NotExpressible(f"{node.name}: reads {source}, not the layer before it ({previous}): netx reads "
                                  "only strictly sequential networks")
        feeding.append(node)
        previous = lif.name
    return [_layer(lif, node, graph, quant, prep.limits.bias_mant_bits) for lif, node in zip(lifs, feeding)]


def _conv(node, weight: np.ndarray, weight_exp: int, graph) -> dict:
    conn = node.connection
    if weight_exp != 0:
        raise _NotExpressible(f"{node.name}: conv weight_exp {weight_exp} (netx's conv has no weight exponent)")
    if conn.groups != 1:
        raise _NotExpressible(f"{node.name}: a grouped conv ({conn.groups} groups): enof writes netx convs of one group")
    return dict(kind="conv", stride=tuple(conn.stride), padding=tuple(conn.padding))


def _dense(node, weight: np.ndarray, weight_exp: int, graph) -> dict:
    problem = dense_read_problem(weight, weight_exp, 8)
    if problem:
        raise _NotExpressible(f"{node.name}: {problem}")
    return dict(kind="dense", flatten_before=len(graph.shape_of(graph.spiking_source(node.sources[0]))) != 1)


# The synapse kinds netx has a layer type for (enof.synapses.KINDS keys → the netx layer's fields); no other.
NETX_LAYERS = {"conv": _conv, "dense": _dense}


def _layer(lif: LifNode, node, graph, quant, bias_mant_bits: int) -> NetxLayer:
    q = quant.lifs[lif.name]
    kind = node.kind if isinstance(node, WeightNode) else type(node).__name__
    if kind not in NETX_LAYERS:
        raise _NotExpressible(f"{node.name}: a {kind} has no netx layer type")
    weight = np.asarray(quant.weight_int[node.name], np.int64)
    extra = NETX_LAYERS[kind](node, weight, int(quant.weight_exp.get(node.name, 0)), graph)
    bias, problem = bias_at_netx_exp(q.bias_mant, q.bias_exp, bias_mant_bits)
    if bias is None:
        raise _NotExpressible(f"{lif.name}: {problem}")
    return NetxLayer(name=lif.name, shape=tuple(lif.shape), weight=weight, vth=int(q.vth), du=int(q.du), dv=int(q.dv),
                     bias=bias, **extra)  # fmt: skip
