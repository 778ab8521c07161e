"""`model.pt` (docs/design.md §2): written atomically, read only with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so the restricted
unpickler of `weights_only=True` can read it; anything else (a hostile pickle, a truncated
file, another format or version) is refused with a one-line `CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from enof.formats.atomic import atomic_open
from enof.errors import CheckpointError

FORMAT = "enof-model"
FORMAT_VERSION = 1
MODES = ("snn", "ann")


@dataclass
class Checkpoint:
    """The fields of `model.pt`. `mode` is "snn" for the EnOF network, "ann" for its teacher."""

    arch: str
    arch_kwargs: dict[str, Any]
    neuron: dict[str, Any]
    timesteps: int
    repact: bool
    state_dict: dict[str, torch.Tensor]
    dataset: dict[str, Any]
    teacher: dict[str, str] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    train_config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    mode: str = "snn"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}


_REQUIRED_TYPES: dict[str, type | tuple[type, ...]] = {
    "arch": str,
    "arch_kwargs": dict,
    "neuron": dict,
    "timesteps": int,
    "repact": bool,
    "state_dict": dict,
    "dataset": dict,
    "teacher": (dict, type(None)),
    "metrics": dict,
    "seed": int,
    "train_config": dict,
    "versions": dict,
}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` to a temporary file beside `path`, then rename (a crash never leaves half a file)."""
    with atomic_open(path, "wb") as handle:
        torch.save(obj, handle)


def safe_torch_load(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """`torch.load(weights_only=True)` on CPU; a missing, truncated or hostile file is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such {what} file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler's refusals and zip errors are all "unreadable"
        raise CheckpointError(
            f"{path}: not a readable enof {what} (truncated, corrupt or not made by enof: {_reason(exc)})"
        ) from None


_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue", "Check the documentation of torch.load")


def _reason(exc: Exception) -> str:
    """The informative line of torch.load's multi-line error (not its advice to drop weights_only)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_TORCH_BOILERPLATE)]
    pick = (useful or lines or [type(exc).__name__])[0]
    return pick.removeprefix("WeightsUnpickler error:").strip()[:160]


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> str:
    """Write `checkpoint` to `path` atomically; returns the file's sha256."""
    if checkpoint.mode not in MODES:
        raise ValueError(f"Checkpoint.mode must be one of {MODES}, got {checkpoint.mode!r}")
    payload = checkpoint.to_dict()
    payload["state_dict"] = {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()}
    atomic_torch_save(payload, path)
    return file_sha256(path)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a `model.pt`: format, version, field types, tensors in `state_dict`."""
    path = Path(path)
    raw = safe_torch_load(path)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        found = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise CheckpointError(f"{path}: not an enof model checkpoint (format {found!r}, expected {FORMAT!r})")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: unknown checkpoint format_version {raw.get('format_version')!r} "
            f"(this enof reads version {FORMAT_VERSION})"
        )
    for key, expected in _REQUIRED_TYPES.items():
        if key not in raw:
            raise CheckpointError(f"{path}: checkpoint field '{key}' is missing")
        if not isinstance(raw[key], expected) or (expected is int and isinstance(raw[key], bool)):
            raise CheckpointError(f"{path}: checkpoint field '{key}' has type {type(raw[key]).__name__}")
    bad = [k for k, v in raw["state_dict"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: state_dict entry '{bad[0]}' is not a tensor")
    mode = raw.get("mode", "snn")
    if mode not in MODES:
        raise CheckpointError(f"{path}: checkpoint field 'mode' is {mode!r}, expected one of {MODES}")
    names = {f.name for f in fields(Checkpoint)}
    return Checkpoint(**{k: v for k, v in raw.items() if k in names})


def teacher_reference(teacher_path: str | os.PathLike, model_path: str | os.PathLike) -> dict[str, str]:
    """The checkpoint's `teacher` dict: the path relative to the model's folder when the teacher
    lies inside it (so the pair can be moved together), else absolute; and the file's sha256."""
    teacher_path, folder = Path(teacher_path).resolve(), Path(model_path).resolve().parent
    shown = teacher_path.relative_to(folder) if teacher_path.is_relative_to(folder) else teacher_path
    return {"path": str(shown), "sha256": file_sha256(teacher_path)}


def resolve_teacher_path(checkpoint: Checkpoint, model_path: str | os.PathLike) -> Path:
    """Where the teacher of the checkpoint at `model_path` is, with its sha256 checked."""
    if checkpoint.teacher is None:
        raise CheckpointError(f"{model_path}: trained without a teacher")
    path = Path(model_path).parent / checkpoint.teacher["path"]  # an absolute path stays absolute
    if not path.is_file() or file_sha256(path) != checkpoint.teacher["sha256"]:
        raise CheckpointError(f"{model_path}: its teacher {path} is missing or was changed (sha256 differs)")
    return path


def build_model_from_checkpoint(checkpoint: Checkpoint, mode: str = "snn") -> torch.nn.Module:
    """Rebuild the EnofNet of `checkpoint` as `mode` ("snn" | "ann") with its weights, in eval mode."""
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    try:
        neuron = NeuronConfig(**checkpoint.neuron)
        model = build_model(
            checkpoint.arch,
            mode=mode,
            repact=checkpoint.repact,
            timesteps=checkpoint.timesteps,
            neuron=neuron,
            **checkpoint.arch_kwargs,
        )
        model.load_state_dict(checkpoint.state_dict, strict=True)
    except (TypeError, ValueError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"checkpoint of arch '{checkpoint.arch}' does not rebuild: {first_line}") from None
    return model.eval()


def versions() -> dict[str, str]:
    """Versions recorded in every checkpoint."""
    import norse

    import enof

    return {"enof": enof.__version__, "torch": str(torch.__version__), "norse": str(getattr(norse, "__version__", "unknown"))}
