"""The chip part as a NIR graph (docs/design.md §1, §5; docs/nir.md): Input, Output, Conv2d, Affine, LIF (IF
for a layer without leak, decay 1), Flatten.

NIR LIF is continuous time: ``tau·dv/dt = (v_leak − v) + r·I``. We write ``r = 1`` and
``tau = dt_s/(1 − decay)``, and fold the input gain ``1/(1 − decay)`` into the weights and biases of
the nodes feeding the LIF; one forward-Euler step of ``dt_s`` is then ``v + (1 − decay)·(−v + I/(1 − decay))
= decay·v + I``, the EnOF LIF. Reset to ``v_reset = 0`` is a hard reset (metadata ``reset="zero"``).
``dt_s = 1e-4``: snnTorch's importer assumes it whatever the file says (beta = 1 − dt/tau), Norse's
takes ``from_nir(graph, dt=dt_s)``. In current mode the host-in current enters the first LIF as
``I`` unscaled; that LIF's ``v_threshold`` is scaled by ``1 − decay`` instead (its NIR membrane is
``(1 − decay)·v``, its spikes the same). One function per node type (``NODE_WRITERS``); a weight node is
written by its synapse kind's ``write_nir`` (enof.synapses).

Type checks (nir 1.0.8): ``NIRGraph(nodes, edges, type_check=True)`` — also what ``nir.read(path,
type_check=True)`` does — runs ``infer_types()`` (Conv2d output shapes from ``input_shape``, Flatten
from its input type, Output from its source) then ``check_types()`` (every edge's output type equals
the next node's input type). ``chip_graph`` builds with it on, so a wrong shape fails at export.

Read back, unchanged, by Norse, snnTorch (tests/interop/); ``enof.runtime.chip_nir`` undoes the fold.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np

from enof.exporter.graph import INPUT, FlattenNode, Graph, LifNode, Node, WeightNode
from enof.exporter.partition import Partition, role
from enof.synapses import KINDS

DT_S = 1e-4  # the model is discrete, any dt is exact; snnTorch 1.0's importer hard-codes 1e-4 (import_nir.py)


@dataclass(frozen=True)
class _Writing:
    """What a node writer needs beside its node: the graph, the chip's current-fed LIF, dt."""

    graph: Graph
    current_target: str | None  # the LIF the host-in current feeds (current mode), else None
    dt_s: float

    def input_gain(self, weight_node: Node) -> float:
        """``1/(1 − decay)`` of the LIF that ``weight_node`` feeds: folded into its weight and bias (1 for an
        IF: written with ``r = 1/dt_s``, its Euler gain ``dt_s·r`` is 1)."""
        (lif,) = [n for n in self.graph.consumers(weight_node.name) if isinstance(n, LifNode)]
        return 1.0 if lif.decay == 1.0 else 1.0 / (1.0 - lif.decay)


def _folded(values: np.ndarray, gain: float) -> np.ndarray:
    return (values.astype(np.float64) * gain).astype(np.float32)


def _weights(node: WeightNode, w: _Writing) -> nir.NIRNode:
    """The NIR node of the node's synapse kind (enof.synapses: Conv2d, Affine), the input gain folded in."""
    gain = w.input_gain(node)
    return KINDS[node.kind].write_nir(node.connection, _folded(node.weight, gain), _folded(node.bias, gain))


def _flatten(node: FlattenNode, w: _Writing) -> nir.NIRNode:
    # NIR shapes exclude the batch: flatten every dimension of one sample.
    return nir.Flatten(input_type={"input": np.array(node.in_shape)}, start_dim=0, end_dim=-1)


def _lif(node: LifNode, w: _Writing) -> nir.NIRNode:
    full = lambda v: np.full(node.shape, v, dtype=np.float32)  # noqa: E731
    if node.decay == 1.0:  # no leak: NIR's IF, dv/dt = r·I; r = 1/dt_s makes its Euler step v ← v + I
        return nir.IF(r=full(1.0 / w.dt_s), v_threshold=full(node.v_threshold), v_reset=full(0.0), metadata={"decay": 1.0})
    # A current-fed LIF gets the current unscaled: its threshold carries the gain (1 − decay) instead.
    v_threshold = node.v_threshold * (1.0 - node.decay) if node.name == w.current_target else node.v_threshold
    return nir.LIF(
        tau=full(w.dt_s / (1.0 - node.decay)),
        r=full(1.0),
        v_leak=full(0.0),
        v_threshold=full(v_threshold),
        v_reset=full(0.0),
        metadata={"decay": float(node.decay)},  # exact; tau in float32 gives it to ~1e-7
    )


NODE_WRITERS = {WeightNode: _weights, FlattenNode: _flatten, LifNode: _lif}  # one entry per chip node type


def output_node_name(lif: str, outputs: list[str]) -> str:
    """``output`` for a single chip output, else ``output.<lif>`` (one NIR Output per chip output)."""
    return "output" if len(outputs) == 1 else f"output.{lif}"


def chip_graph(graph: Graph, part: Partition, dt_s: float = DT_S) -> nir.NIRGraph:
    """The chip part as a type-checked NIRGraph (constructing it runs NIR's type inference and checks)."""
    chip = part.names("chip")
    if part.input_mode == "current":
        in_shape = graph.nodes[part.current_target].shape
    else:
        in_shape = graph.input_shape
    writing = _Writing(graph, part.current_target, dt_s)
    nodes: dict[str, nir.NIRNode] = {INPUT: nir.Input(input_type={"input": np.array(in_shape)})}
    edges: list[tuple[str, str]] = []
    for name in chip:
        node = graph.nodes[name]
        nodes[name] = NODE_WRITERS[type(node)](node, writing)
        for src in node.sources:
            edges.append((src if src in nodes else INPUT, name))
    for lif in part.chip_outputs:
        out = output_node_name(lif, part.chip_outputs)
        nodes[out] = nir.Output(output_type={"output": np.array(graph.nodes[lif].shape)})
        edges.append((lif, out))
    edges = list(dict.fromkeys(edges))  # host-in layers all map to the one input edge
    metadata = {
        "dt_s": float(dt_s),
        "discretization": "forward-euler",
        "reset": "zero",
        "timesteps": int(graph.timesteps),
        "input_mode": part.input_mode,
    }
    decays = {graph.nodes[n].decay for n in chip_lifs(graph, part)}
    if len(decays) == 1:  # one decay for the network (every enof-trained one); else each LIF's metadata says
        metadata["decay"] = float(decays.pop())
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata, type_check=True)


def chip_lifs(graph: Graph, part: Partition) -> list[str]:
    """The chip's spiking layers, in graph order."""
    return [n for n in part.names("chip") if role(graph.nodes[n]).spiking]


# Uncompressed HDF5: trained float weights do not compress (gzip saved ~10 % on ResNet19 but took
# 3.4 s of a ~6 s export), and an uncompressed file needs no HDF5 filter in any reader.
COMPRESSION = None


def chip_nir_bytes(graph: nir.NIRGraph) -> bytes:
    buffer = io.BytesIO()
    nir.write(buffer, graph, compression=COMPRESSION)
    return buffer.getvalue()


def write_chip_nir(graph: nir.NIRGraph, path: Path) -> None:
    """``nir.write`` to a temporary file, then rename."""
    tmp = Path(f"{path}.tmp")
    nir.write(str(tmp), graph, compression=COMPRESSION)
    os.replace(tmp, path)
