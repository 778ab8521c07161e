"""A NIR graph written by another tool → the exporter's ``Graph`` (docs/nir.md "Which NIR enof reads").

NIR's neurons are continuous; enof runs them as one forward-Euler step of the graph's ``dt_s`` per
time step, reset to zero in the same step (docs/nir.md). Where that step equals the chip's
``v ← decay·v·(1 − s) + I`` exactly, a node maps; anything else is refused by node name:

- LIF ``tau·dv/dt = (v_leak − v) + r·I``: ``v ← (1 − dt/tau)·v + (r·dt/tau)·I``, so ``decay = 1 − dt/tau``
  and the input gain ``r·dt/tau`` is folded into the weights and biases of the nodes feeding it
  (snnTorch's convention tau = dt/(1 − β), r = 1/(1 − β) gives decay β, gain 1). Needs ``v_leak = 0``,
  ``v_reset = 0`` and one value per parameter for the whole layer (the chip has one decay and one
  threshold per layer).
- IF ``dv/dt = r·I``: ``v ← v + r·dt·I``, decay 1 (no leak), gain ``r·dt``. Needs ``v_reset = 0``.
- CubaLIF with an instantaneous synapse (``dt/tau_syn = 1``: the Euler step sets ``I = w_in·S``): a LIF
  whose gain also carries ``w_in``.
- Conv2d, Affine, Linear (Affine without bias): weight layers. Flatten (all of a sample's dimensions).
- AvgPool2d / SumPool2d (kernel = stride, no padding) before a weight layer: folded into it, as the
  exporter folds a trained network's AvgPool2d (a SumPool2d(k) is an AvgPool2d(k) times k²).
- Scale: folded into the weight layer before it (per output channel) or after it (per input channel).

The node feeding ``Output`` is the result: a 1-D LIF (its spikes; the host reads their mean over the
T steps as the ``logits``) or an Affine on a 1-D LIF (a non-spiking readout run on the host: the mean
over T of ``W·s_t + b``, which is exactly ``W·mean(s) + b``). Node handlers are one table (``NODE_READERS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import nir
import numpy as np

from enof.errors import UnsupportedModuleError
from enof.exporter.graph import INPUT, Graph, GraphBuilder, LifNode, PoolNode, Ref
from enof.exporter.nir_metadata import onnx_safe_names, refuse_subtract_reset, valid_dt_range

# What the refusals offer instead.
READS = "Input, Output, Conv2d, Affine, Linear, LIF, IF, CubaLIF (dt/tau_syn = 1), Flatten, AvgPool2d/SumPool2d before a weight layer, Scale"
RELATIVE_TOLERANCE = 1e-6  # parameters stored in float32 (~6e-8 relative) count as one value within this


@dataclass
class _Value:
    """What a NIR node's output is on the enof side: a graph tensor, and a gain per input channel not
    yet folded into the weight layer that will read it (a Scale or SumPool2d in front of it)."""

    ref: Ref
    in_gain: np.ndarray | float = 1.0


@dataclass
class _Reading:
    nir_graph: nir.NIRGraph
    dt_s: float
    build: GraphBuilder = field(default_factory=GraphBuilder)
    values: dict[str, _Value] = field(default_factory=dict)


def read_nir_file(path: str | Path) -> nir.NIRGraph:
    """``nir.read`` of ``path``, its failure as one line naming the file. Without nir's type check: the
    mapping checks every shape itself and names the node and field (nir's check names only an edge)."""
    path = Path(path)
    if not path.exists():
        raise UnsupportedModuleError(f"{path}: no such file (a NIR graph written by nir.write was expected there)")
    if path.is_dir():
        raise UnsupportedModuleError(f"{path}: a folder, not a NIR graph file (nir.write writes one HDF5 file)")
    if not h5py.is_hdf5(path):
        raise UnsupportedModuleError(f"{path}: not an HDF5 file, so not a NIR graph (nir.write writes HDF5)")
    try:
        return nir.read(str(path), type_check=False)
    except Exception as exc:  # nir raises KeyError/ValueError/AssertionError on a malformed graph
        raise UnsupportedModuleError(f"{path}: not a NIR graph nir {nir.version} can read ({type(exc).__name__}: {exc})") from None


def graph_from_nir(nir_graph: nir.NIRGraph, timesteps: int, dt_s: float) -> Graph:
    """The exporter's Graph of ``nir_graph`` run for ``timesteps`` Euler steps of ``dt_s``; refuses what the
    chip cannot compute exactly, naming the node. Node names the ONNX exporter refuses (all digits: an
    ``nn.Sequential``'s "0", "1", ...) become ``<kind><name>`` (``lif3``); ``Graph.module_paths`` maps each
    enof name back to its NIR node."""
    nir_graph, nir_names = onnx_safe_names(nir_graph)
    order = _topological_order(nir_graph)
    inputs = [n for n in order if isinstance(nir_graph.nodes[n], nir.Input)]
    outputs = [n for n in order if isinstance(nir_graph.nodes[n], nir.Output)]
    if len(inputs) != 1:
        raise UnsupportedModuleError(f"NIR graph: {len(inputs)} Input nodes {inputs}; enof deploys graphs with exactly one")
    if len(outputs) != 1:
        raise UnsupportedModuleError(f"NIR graph: {len(outputs)} Output nodes {outputs}; enof deploys graphs with exactly one")
    input_shape = tuple(int(v) for v in np.asarray(nir_graph.nodes[inputs[0]].input_type["input"]).reshape(-1))
    reading = _Reading(nir_graph, dt_s)
    reading.values[inputs[0]] = _Value(Ref((INPUT,), input_shape))
    for name in order:
        node = nir_graph.nodes[name]
        if isinstance(node, (nir.Input, nir.Output)):
            continue
        reader = NODE_READERS.get(type(node))
        if reader is None:
            raise UnsupportedModuleError(f"{name}: NIR node type {type(node).__name__} is not supported; enof reads {READS}")
        sources = _sources(nir_graph, name)
        if not sources:
            raise UnsupportedModuleError(f"{name}: no incoming edge")
        if len(sources) > 1 and not _is_neuron(node):
            raise UnsupportedModuleError(f"{name}: {len(sources)} incoming edges; only a neuron may sum several inputs")
        try:
            reading.values[name] = reader(reading, name, node, [reading.values[s] for s in sources])
        except UnsupportedModuleError as exc:  # name the node as the graph (or the module) names it
            if name not in nir_names:
                raise
            raise UnsupportedModuleError(f"{nir_names[name]} ({name}){str(exc).removeprefix(name)}") from None
    graph = _with_readout(reading, _sources(nir_graph, outputs[0]), input_shape, timesteps)
    graph.module_paths.update({n: nir_names[n] for n in graph.module_paths if n in nir_names})
    return graph


def _topological_order(nir_graph: nir.NIRGraph) -> list[str]:
    """Node names in an order where every edge goes forward; a cycle is refused by its edges."""
    for a, b in nir_graph.edges:
        for end in (a, b):
            if end not in nir_graph.nodes:
                raise UnsupportedModuleError(f"NIR graph: edge {a} → {b} names a node {end!r} the graph does not have")
    pending = {n: sum(1 for _, b in nir_graph.edges if b == n) for n in nir_graph.nodes}
    ready = [n for n, count in pending.items() if count == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for a, b in nir_graph.edges:
            if a == name:
                pending[b] -= 1
                if pending[b] == 0:
                    ready.append(b)
    if len(order) != len(nir_graph.nodes):
        cyclic = set(nir_graph.nodes) - set(order)
        while True:  # drop nodes that only lead out of the cycles (no edge to another unordered node)
            sinks = {n for n in cyclic if not any(a == n and b in cyclic for a, b in nir_graph.edges)}
            if not sinks:
                break
            cyclic -= sinks
        loop = [f"{a} → {b}" for a, b in nir_graph.edges if a in cyclic and b in cyclic]
        raise UnsupportedModuleError(
            f"NIR graph: recurrent edges ({', '.join(loop)}); the chip program is feed-forward — unroll or drop the recurrence"
        )
    return order


def _sources(nir_graph: nir.NIRGraph, name: str) -> list[str]:
    return [a for a, b in nir_graph.edges if b == name]


def _is_neuron(node: nir.NIRNode) -> bool:
    return isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF))


def _one_value(name: str, field_name: str, values, shape: tuple[int, ...]) -> float:
    """The single value of a layer parameter, checked against the layer's shape."""
    array = np.asarray(values, dtype=np.float64)
    if array.size != 1 and tuple(array.shape) != tuple(shape):
        raise UnsupportedModuleError(f"{name}: {field_name} has shape {tuple(array.shape)}, its input has shape {tuple(shape)}")
    if not np.isfinite(array).all():
        raise UnsupportedModuleError(f"{name}: {field_name} holds NaN or Inf; every parameter must be a finite number")
    first = float(array.reshape(-1)[0])
    if not np.allclose(array, first, rtol=RELATIVE_TOLERANCE, atol=0.0):
        raise UnsupportedModuleError(
            f"{name}: {field_name} differs between neurons ({array.min():g} … {array.max():g}); the chip needs one "
            "value per layer — split the layer or use one value"
        )
    return first


def _in_gain_on(weight: np.ndarray, in_gain) -> np.ndarray:
    """``weight`` (C_out, C_in, ...) reading an input scaled by ``in_gain`` (scalar or per C_in)."""
    gain = np.asarray(in_gain, dtype=np.float64).reshape(-1)
    if gain.size == 1:
        return weight * gain[0]
    return weight * gain.reshape(1, -1, *([1] * (weight.ndim - 2)))


def _conv(reading: _Reading, name: str, node: nir.Conv2d, sources: list[_Value]) -> _Value:
    (value,) = sources
    if int(node.groups) != 1 or tuple(np.broadcast_to(node.dilation, 2)) != (1, 1):
        raise UnsupportedModuleError(f"{name}: Conv2d with groups={node.groups}, dilation={node.dilation}; the chip takes groups 1, dilation 1")
    if isinstance(node.padding, str):
        raise UnsupportedModuleError(f"{name}: Conv2d padding={node.padding!r}; give the padding as numbers")
    weight = np.asarray(node.weight, dtype=np.float64)
    if weight.ndim != 4 or len(value.ref.shape) != 3:
        raise UnsupportedModuleError(f"{name}: Conv2d weight {weight.shape} on an input of shape {value.ref.shape}; needs (C_out, C_in, kH, kW) on (C, H, W)")
    bias = np.broadcast_to(np.asarray(node.bias, dtype=np.float64), (weight.shape[0],)).copy()
    stride = tuple(int(v) for v in np.broadcast_to(node.stride, 2))
    padding = tuple(int(v) for v in np.broadcast_to(node.padding, 2))
    ref = reading.build.conv(name, value.ref, _in_gain_on(weight, value.in_gain), bias, stride, padding)
    return _Value(ref)


def _affine(reading: _Reading, name: str, node: nir.Affine | nir.Linear, sources: list[_Value]) -> _Value:
    (value,) = sources
    weight = np.asarray(node.weight, dtype=np.float64)
    if weight.ndim != 2:
        raise UnsupportedModuleError(f"{name}: {type(node).__name__} weight has shape {weight.shape}; needs (N_out, N_in)")
    bias = getattr(node, "bias", None)
    bias = np.zeros(weight.shape[0]) if bias is None else np.broadcast_to(np.asarray(bias, np.float64), (weight.shape[0],)).copy()
    ref = reading.build.dense(name, value.ref, _in_gain_on(weight, value.in_gain), bias)
    return _Value(ref)


def _flatten(reading: _Reading, name: str, node: nir.Flatten, sources: list[_Value]) -> _Value:
    (value,) = sources
    ref = value.ref
    start = int(node.start_dim) % max(len(ref.shape), 1)
    if start != 0 or int(node.end_dim) not in (-1, len(ref.shape) - 1) or ref.pool_k != 1:
        raise UnsupportedModuleError(
            f"{name}: Flatten(start_dim={node.start_dim}, end_dim={node.end_dim}) of a {ref.shape} sample; "
            "enof flattens all of a sample's dimensions (start_dim 0, end_dim -1), after a neuron"
        )
    if len(ref.sources) != 1 or reading.build.is_pending(ref.sources[0]):
        raise UnsupportedModuleError(f"{name}: Flatten must follow a neuron or the input")
    flat = reading.build.flatten(name, ref)
    gain = np.asarray(value.in_gain, np.float64).reshape(-1)
    if gain.size > 1:  # a per-channel gain, one per flattened element now (torch order: channel-major)
        gain = np.repeat(gain, flat.shape[0] // gain.size)
    return _Value(flat, gain)


def _pool(reading: _Reading, name: str, node, sources: list[_Value]) -> _Value:
    (value,) = sources
    k = tuple(int(v) for v in np.broadcast_to(node.kernel_size, 2))
    s = tuple(int(v) for v in np.broadcast_to(node.stride, 2))
    p = tuple(int(v) for v in np.broadcast_to(node.padding, 2))
    if k[0] != k[1] or s != k or p != (0, 0):
        raise UnsupportedModuleError(
            f"{name}: {type(node).__name__}(kernel={k}, stride={s}, padding={p}); only square kernel = stride, "
            "no padding, before a weight layer, is folded into it"
        )
    if reading.build.is_pending(value.ref.sources[0]) or len(value.ref.sources) != 1:
        raise UnsupportedModuleError(f"{name}: {type(node).__name__} must follow a neuron or the input")
    if len(value.ref.shape) != 3:
        raise UnsupportedModuleError(f"{name}: {type(node).__name__} on an input of shape {value.ref.shape}; needs (C, H, W)")
    area = float(k[0] * k[1]) if isinstance(node, nir.SumPool2d) else 1.0  # SumPool2d(k) = k²·AvgPool2d(k)
    # The Ref keeps the unpooled shape and the pool factor; the next conv folds the pool (GraphBuilder.conv).
    pooled = Ref(value.ref.sources, value.ref.shape, value.ref.pool_k * k[0])
    return _Value(pooled, np.asarray(value.in_gain, np.float64) * area)


def _scale(reading: _Reading, name: str, node: nir.Scale, sources: list[_Value]) -> _Value:
    (value,) = sources
    ref = value.ref
    scale = np.asarray(node.scale, dtype=np.float64)
    shape = tuple(ref.shape) if ref.pool_k == 1 else (ref.shape[0], ref.shape[1] // ref.pool_k, ref.shape[2] // ref.pool_k)
    try:
        full = np.broadcast_to(scale, shape)
    except ValueError:
        raise UnsupportedModuleError(f"{name}: Scale of shape {scale.shape} on an input of shape {shape}") from None
    per_channel = full.reshape(shape[0], -1)
    if not np.allclose(per_channel, per_channel[:, :1], rtol=RELATIVE_TOLERANCE, atol=0.0):
        raise UnsupportedModuleError(f"{name}: Scale differs within a channel; the chip folds one scale per channel into a weight layer")
    channel = per_channel[:, 0]
    if len(ref.sources) == 1 and reading.build.is_pending(ref.sources[0]):  # after a weight layer: scales its outputs
        reading.build.fold_into(ref.sources[0], lambda weight, bias: (
            weight * channel.reshape(-1, *([1] * (weight.ndim - 1))), bias * channel))
        return value
    return _Value(ref, np.asarray(value.in_gain, np.float64) * channel)


def _neuron(reading: _Reading, name: str, sources: list[_Value], decay: float, gain: float, v_threshold: float) -> _Value:
    build = reading.build
    refs = [v.ref for v in sources]
    for value in sources:
        if len(value.ref.sources) != 1 or not build.is_pending(value.ref.sources[0]):
            raise UnsupportedModuleError(f"{name}: a neuron must be fed by weight layers (Conv2d, Affine, Linear)")
    for value in sources:
        build.fold_into(value.ref.sources[0], lambda weight, bias: (weight * gain, bias * gain))
    shape = refs[0].shape
    if any(r.shape != shape for r in refs):
        raise UnsupportedModuleError(f"{name}: inputs of shapes {[r.shape for r in refs]} do not match")
    joined = Ref(tuple(s for r in refs for s in r.sources), shape)
    return _Value(build.activation(LifNode, name, joined, decay=decay, v_threshold=v_threshold))


def _check_neuron(name: str, node, shape: tuple[int, ...]) -> tuple[float, float]:
    """(v_threshold, r) after the checks every NIR neuron shares: v_leak = 0, v_reset = 0, one value each."""
    if _one_value(name, "v_leak", getattr(node, "v_leak", 0.0), shape) != 0.0:
        raise UnsupportedModuleError(f"{name}: v_leak ≠ 0; the chip's neuron leaks towards 0 — shift v_leak into the bias and threshold")
    if _one_value(name, "v_reset", node.v_reset, shape) != 0.0:
        raise UnsupportedModuleError(f"{name}: v_reset ≠ 0; the chip resets to zero — use v_reset = 0")
    v_threshold = _one_value(name, "v_threshold", node.v_threshold, shape)
    if v_threshold <= 0.0:  # at 0 or below a neuron at rest (v = 0) would fire, and the chip's threshold register is positive
        raise UnsupportedModuleError(
            f"{name}: v_threshold = {v_threshold:g}; the chip fires on v > v_threshold with a positive threshold — "
            "give v_threshold > 0 (scale the weights and the threshold together to keep the spikes)"
        )
    return v_threshold, _one_value(name, "r", node.r, shape)


def _euler_step(reading: _Reading, name: str, field_name: str, tau_values, shape: tuple[int, ...]) -> float:
    """dt/tau of a neuron, 0 < dt/tau ≤ 1 (the forward-Euler step that equals the chip's decay), refused
    otherwise with the range of dt that every neuron of the graph would take."""
    tau = _one_value(name, field_name, tau_values, shape)
    if tau <= 0.0:
        raise UnsupportedModuleError(f"{name}: {field_name} = {tau:g}; a time constant must be > 0 seconds")
    step = reading.dt_s / tau
    if not 0.0 < step <= 1.0:
        low, high = valid_dt_range(reading.nir_graph)
        raise UnsupportedModuleError(
            f"{name}: dt/{field_name} = {step:g} at dt_s = {reading.dt_s:g} ({field_name} = {tau:g} s); the Euler step needs "
            f"0 < dt/tau ≤ 1, so a dt_s in ({low:g}, {high:g}] for this graph — pass the dt it was written for (--dt-s)"
        )
    return step


def _lif(reading: _Reading, name: str, node: nir.LIF, sources: list[_Value]) -> _Value:
    refuse_subtract_reset(reading.nir_graph, name, node)
    shape = sources[0].ref.shape
    v_threshold, r = _check_neuron(name, node, shape)
    step = _euler_step(reading, name, "tau", node.tau, shape)
    return _neuron(reading, name, sources, decay=1.0 - step, gain=r * step, v_threshold=v_threshold)


def _if(reading: _Reading, name: str, node: nir.IF, sources: list[_Value]) -> _Value:
    refuse_subtract_reset(reading.nir_graph, name, node)
    v_threshold, r = _check_neuron(name, node, sources[0].ref.shape)
    return _neuron(reading, name, sources, decay=1.0, gain=r * reading.dt_s, v_threshold=v_threshold)


def _cuba_lif(reading: _Reading, name: str, node: nir.CubaLIF, sources: list[_Value]) -> _Value:
    refuse_subtract_reset(reading.nir_graph, name, node)
    shape = sources[0].ref.shape
    tau_syn = _one_value(name, "tau_syn", node.tau_syn, shape)
    if tau_syn <= 0.0:
        raise UnsupportedModuleError(f"{name}: tau_syn = {tau_syn:g}; a time constant must be > 0 seconds")
    syn_step = reading.dt_s / tau_syn
    if abs(syn_step - 1.0) > RELATIVE_TOLERANCE:
        raise UnsupportedModuleError(
            f"{name}: CubaLIF with dt/tau_syn = {syn_step:g}; the chip's synapse is instantaneous — use tau_syn = dt ({reading.dt_s:g}) or a LIF"
        )
    v_threshold, r = _check_neuron(name, node, shape)
    w_in = _one_value(name, "w_in", node.w_in, shape)
    step = _euler_step(reading, name, "tau_mem", node.tau_mem, shape)
    return _neuron(reading, name, sources, decay=1.0 - step, gain=w_in * r * step, v_threshold=v_threshold)


NodeReader = Callable[[_Reading, str, nir.NIRNode, list[_Value]], _Value]
NODE_READERS: dict[type, NodeReader] = {
    nir.Conv2d: _conv, nir.Affine: _affine, nir.Linear: _affine, nir.Flatten: _flatten,
    nir.AvgPool2d: _pool, nir.SumPool2d: _pool, nir.Scale: _scale, nir.LIF: _lif, nir.IF: _if, nir.CubaLIF: _cuba_lif,
}  # fmt: skip


def _with_readout(reading: _Reading, output_sources: list[str], input_shape: tuple[int, ...], timesteps: int) -> Graph:
    """The Graph with its host head: the mean over T of the last LIF's spikes, then the readout Affine (or identity)."""
    build = reading.build
    if len(output_sources) != 1:
        raise UnsupportedModuleError(f"Output: fed by {len(output_sources)} nodes {output_sources}; enof needs one")
    (last,) = output_sources
    value = reading.values[last]
    readout = None
    if build.is_pending(value.ref.sources[0]):  # an Affine on the host: the non-spiking readout
        readout = value.ref.sources[0]
        taken = build.take(readout)
        lif = taken.sources[0]
        if taken.kind != "dense" or not isinstance(build.nodes.get(lif), LifNode):
            raise UnsupportedModuleError(f"{readout}: a readout before Output must be an Affine/Linear directly on a 1-D LIF")
        weight, bias = taken.weight, taken.bias
    else:
        lif = value.ref.sources[0]
        if value.ref.pool_k != 1 or not isinstance(build.nodes.get(lif), LifNode):
            raise UnsupportedModuleError(f"{last}: Output must follow a LIF (its spikes) or an Affine readout on one")
    shape = build.nodes[lif].shape
    if len(shape) != 1:
        raise UnsupportedModuleError(
            f"{lif}: an output LIF of shape {shape}; the result must be a 1-D layer — end with Flatten → Affine → LIF"
        )
    for name in ("pool", "readout"):
        if name in build.nodes or build.is_pending(name):
            raise UnsupportedModuleError(f"{name}: enof names its host head so; rename that NIR node")
    build.add(PoolNode("pool", (lif,), shape))
    if readout is None:
        readout, weight, bias = "readout", np.eye(shape[0]), np.zeros(shape[0])
    build.dense(readout, Ref(("pool",), shape), weight, bias)
    build.commit([readout])
    if build.pending:
        raise UnsupportedModuleError(f"{sorted(build.pending)[0]}: a weight layer that feeds no neuron")
    nodes = dict(build.nodes)
    return Graph(nodes, tuple(input_shape), int(timesteps), readout, {n: n for n in nodes})
