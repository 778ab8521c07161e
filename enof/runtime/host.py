"""The host parts of a bundle on ONNX Runtime: host_in (x → current) and host_out (chip spikes → logits).

Their multiply-accumulates per inference are counted at export (enof.exporter.host_macs) and read from
the manifest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from enof.errors import RunError


def open_session(path: str | Path, threads: int = 1, model: bytes | None = None) -> ort.InferenceSession:
    """An ONNX Runtime CPU session on ``model`` (the file's bytes, already read and checked:
    OpenedBundle.host_session), else on the file at ``path``; ``threads`` intra-op threads (the chip simulator
    uses the others)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model if model is not None else str(path), options, providers=["CPUExecutionProvider"])
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
