"""The host parts of a bundle on ONNX Runtime: host_in (x → current) and host_out (chip spikes → logits).

Also counts their multiply-accumulates per inference from the ONNX graph (Conv, Gemm, MatMul),
with shapes measured by running the graph once at batch 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from enof.errors import RunError

MAC_OPS = ("Conv", "Gemm", "MatMul")


def open_session(path: str | Path, threads: int = 1) -> ort.InferenceSession:
    """An ONNX Runtime CPU session; ``threads`` intra-op threads (the chip simulator uses the others)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise RunError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]})") from None


def run_host_in(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    """host_in.onnx: normalized x (B, C, H, W) → input current (B, *shape), constant over the T steps."""
    (current,) = _run(session, "host_in.onnx", ["current"], {"x": np.ascontiguousarray(x, dtype=np.float32)})
    return current


def _run(session: ort.InferenceSession, name: str, outputs: list[str], feed: dict) -> list[np.ndarray]:
    """session.run, its failure one RunError line (open_bundle checked the interfaces; this is what remains)."""
    try:
        return session.run(outputs, feed)
    except Exception as exc:  # onnxruntime raises its own exception types, with multi-line messages
        raise RunError(f"{name}: ONNX Runtime failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def run_host_out(session: ort.InferenceSession, spikes: dict[str, np.ndarray]) -> np.ndarray:
    """host_out.onnx: per chip-output LIF its spikes (T, B, *shape) as float 0/1 → logits (B, K)."""
    names = [i.name for i in session.get_inputs()]
    missing = [n for n in names if n not in spikes]
    if missing:
        raise RunError(f"host_out.onnx expects chip outputs {names}; the chip gave no {missing}")
    feed = {n: np.ascontiguousarray(spikes[n], dtype=np.float32) for n in names}
    (logits,) = _run(session, "host_out.onnx", ["logits"], feed)
    return logits


def count_macs(path: str | Path, input_shapes: dict[str, tuple[int, ...]]) -> int:
    """Multiply-accumulates of one pass of the ONNX graph at the given input shapes (use batch 1).

    Conv: every output element costs C_in/groups · kH · kW; Gemm and MatMul: every output element
    costs the contracted dimension K.
    """
    return sum(node_macs(path, input_shapes).values())


def node_macs(path: str | Path, input_shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """count_macs per MAC node, keyed by the node's second input (its weight initializer's name), in graph order."""
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf errors on a damaged file
        raise RunError(f"{path}: cannot read ONNX ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
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


def _tensor_shapes(model: onnx.ModelProto, input_shapes: dict, wanted: set[str]) -> dict[str, tuple[int, ...]]:
    """Shapes of ``wanted`` tensors: initializers from the file, the rest by running the graph on zeros."""
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    existing = {o.name for o in model.graph.output}
    probe = sorted(w for w in wanted if w not in shapes)
    for name in probe:
        if name not in existing:
            model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise RunError(f"MAC count: ONNX Runtime cannot load the graph ({str(exc).splitlines()[0]})") from None
    feed = {}
    for inp in session.get_inputs():
        if inp.name not in input_shapes:
            raise RunError(f"MAC count: no shape given for ONNX input {inp.name!r}")
        feed[inp.name] = np.zeros(input_shapes[inp.name], np.float32)
    for name, value in zip(probe, _run(session, "MAC count", probe, feed)):
        shapes[name] = tuple(value.shape)
    return shapes
