"""The host graphs' multiply-accumulates per inference, counted once at export into the manifest's ``host_macs``.

Conv: every output element costs C_in/groups · kH · kW; Gemm and MatMul: every output element costs the
contracted dimension K. Shapes are measured by running the graph once on zeros at batch 1 (ONNX Runtime),
at the shapes enof-run feeds: host_in at one image, host_out over the bundle's T steps. They do not change
after export, so enof-run and enof-energy read them from the manifest and open no ONNX file to count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from enof.formats.manifest import HostMacs

MAC_OPS = ("Conv", "Gemm", "MatMul")
ModelSource = onnx.ModelProto | bytes | str | Path


def host_macs(host_in: bytes | None, host_out: bytes, image_shape: tuple[int, ...],
              chip_outputs: dict[str, tuple[int, ...]], timesteps: int) -> HostMacs:
    """The manifest's record for these host graphs (``host_in`` None: not current mode)."""
    counted_in = node_macs(host_in, {"x": (1, *image_shape)}) if host_in is not None else {}
    out_shapes = lambda steps: {n: (steps, 1, *shape) for n, shape in chip_outputs.items()}  # noqa: E731
    counted_out = node_macs(host_out, out_shapes(timesteps))
    return HostMacs(counted_in, counted_out, _one_step(host_out, out_shapes, timesteps, sum(counted_out.values())))


def _one_step(host_out: bytes, shapes, timesteps: int, at_t: int) -> int | None:
    """host_out.onnx at ONE timestep: what the same network as an ANN does there.

    host_out.onnx fixes T in its inputs' first dimension; the exporter's graph folds time into the batch
    from the input shape, so with that dimension freed it runs at T = 1. The freed graph must count what the
    fixed one does at the bundle's T; if that or T = 1 fails, None (enof-energy then takes the T-step count
    and the ANN is overstated by that much)."""
    model = onnx.load_from_string(host_out)
    for tensor in model.graph.input:
        tensor.type.tensor_type.shape.dim[0].dim_param = "T"
    try:
        if count_macs(model, shapes(timesteps)) != at_t:
            return None
        return count_macs(model, shapes(1))
    except Exception:  # onnxruntime refuses T = 1 (a graph that hard-codes T)
        return None


def count_macs(source: ModelSource, input_shapes: dict[str, tuple[int, ...]]) -> int:
    """Multiply-accumulates of one pass of the ONNX graph at the given input shapes (use batch 1)."""
    return sum(node_macs(source, input_shapes).values())


def node_macs(source: ModelSource, input_shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """count_macs per MAC node, keyed by the node's second input (its weight initializer's name), in graph order."""
    model = _model(source)
    nodes = [n for n in model.graph.node if n.op_type in MAC_OPS]
    if not nodes:
        return {}
    shapes = _tensor_shapes(model, input_shapes, {name for n in nodes for name in (*n.input[:2], n.output[0])})
    macs: dict[str, int] = {}
    for node in nodes:
        out = shapes[node.output[0]]
        if node.op_type == "Conv":
            per_output = int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type == "Gemm":
            trans_a = next((a.i for a in node.attribute if a.name == "transA"), 0)
            a = shapes[node.input[0]]
            per_output = int(a[0] if trans_a else a[1])
        else:
            per_output = int(shapes[node.input[0]][-1])
        macs[node.input[1]] = macs.get(node.input[1], 0) + int(np.prod(out)) * per_output
    return macs


def _model(source: ModelSource) -> onnx.ModelProto:
    """A copy to probe: _tensor_shapes adds outputs to it."""
    if isinstance(source, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(source)
        return copy
    return onnx.load_from_string(source) if isinstance(source, bytes) else onnx.load(str(source))


def _tensor_shapes(model: onnx.ModelProto, input_shapes: dict, wanted: set[str]) -> dict[str, tuple[int, ...]]:
    """Shapes of ``wanted`` tensors: initializers from the file, the rest by running the graph on zeros."""
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    existing = {o.name for o in model.graph.output}
    probe = sorted(w for w in wanted if w not in shapes)
    for name in probe:
        if name not in existing:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {}
    for inp in session.get_inputs():
        if inp.name not in input_shapes:
            raise ValueError(f"MAC count: no shape given for ONNX input {inp.name!r}")
        feed[inp.name] = np.zeros(input_shapes[inp.name], np.float32)
    for name, value in zip(probe, session.run(probe, feed)):
        shapes[name] = tuple(value.shape)
    return shapes
