"""The chip part as a NIR graph (docs/design.md §5): Input, Output, Conv2d, Linear, LIF, Flatten.

NIR LIF is continuous time: ``tau·dv/dt = (v_leak − v) + r·I``. One Euler step of ``dt_s`` with
``tau = dt_s/(1 − decay)`` and ``r = 1/(1 − decay)`` gives ``v ← decay·v + I`` exactly, the
EnOF LIF (design.md §1); the reset to ``v_reset = 0`` is a hard reset (metadata ``reset="zero"``).
Weight nodes carry BN-folded float weights without bias; the bias lives in the LIF (quant.npz
``<lif>.bias_float``) because NIR LIF has none. One function per node type (``NODE_WRITERS``).

Type checks (nir 1.0.8): ``NIRGraph(nodes, edges, type_check=True)`` — also what ``nir.read(path,
type_check=True)`` does — runs ``infer_types()`` (Conv2d output shapes from ``input_shape``, Flatten
from its input type, Output from its source) then ``check_types()`` (every edge's output type equals
the next node's input type). ``chip_graph`` builds with it on, so a wrong shape fails at export.

Read back by Norse (``norse.torch.from_nir(graph, dt=dt_s)``, tests/exporter/test_to_nir.py): the
imported module takes one time step per call, ``out, state = module(x_t, state)``, so the caller
loops over T; Norse's LIFBox importer ignores ``r`` (it warns), so an importer that wants our
dynamics must scale the LIF input by ``r`` itself, and must add ``bias_float`` from quant.npz.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import nir
import numpy as np

from enof.exporter.graph import INPUT, ConvNode, DenseNode, FlattenNode, Graph, LifNode
from enof.exporter.partition import Partition, role

DT_S = 1e-3  # any dt works (the model is discrete); 1 ms is Norse's from_nir default


def _conv(node: ConvNode, dt_s: float) -> nir.NIRNode:
    return nir.Conv2d(
        input_shape=tuple(node.in_shape[1:]),
        weight=node.weight.astype(np.float32),
        stride=tuple(node.stride),
        padding=tuple(node.padding),
        dilation=(1, 1),
        groups=1,
        bias=np.zeros(node.weight.shape[0], dtype=np.float32),
    )


def _dense(node: DenseNode, dt_s: float) -> nir.NIRNode:
    return nir.Linear(weight=node.weight.astype(np.float32))


def _flatten(node: FlattenNode, dt_s: float) -> nir.NIRNode:
    # NIR shapes exclude the batch: flatten every dimension of one sample.
    return nir.Flatten(input_type={"input": np.array(node.in_shape)}, start_dim=0, end_dim=-1)


def _lif(node: LifNode, dt_s: float) -> nir.NIRNode:
    full = lambda v: np.full(node.shape, v, dtype=np.float32)  # noqa: E731
    return nir.LIF(
        tau=full(dt_s / (1.0 - node.decay)),
        r=full(1.0 / (1.0 - node.decay)),
        v_leak=full(0.0),
        v_threshold=full(node.v_threshold),
        v_reset=full(0.0),
    )


NODE_WRITERS = {ConvNode: _conv, DenseNode: _dense, FlattenNode: _flatten, LifNode: _lif}  # one entry per chip node kind


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
    nodes: dict[str, nir.NIRNode] = {INPUT: nir.Input(input_type={"input": np.array(in_shape)})}
    edges: list[tuple[str, str]] = []
    for name in chip:
        node = graph.nodes[name]
        nodes[name] = NODE_WRITERS[type(node)](node, dt_s)
        for src in node.sources:
            edges.append((src if src in nodes else INPUT, name))
    for lif in part.chip_outputs:
        out = output_node_name(lif, part.chip_outputs)
        nodes[out] = nir.Output(output_type={"output": np.array(graph.nodes[lif].shape)})
        edges.append((lif, out))
    edges = list(dict.fromkeys(edges))  # host-in layers all map to the one input edge
    metadata = {
        "dt_s": float(dt_s),
        "reset": "zero",
        "decay": float(graph.nodes[chip_lifs(graph, part)[0]].decay),
        "timesteps": int(graph.timesteps),
        "input_mode": part.input_mode,
    }
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
