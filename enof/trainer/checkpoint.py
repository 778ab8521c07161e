"""`model.pt` (docs/design.md §2): written atomically, read only with `torch.load(weights_only=True)`.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so the restricted
unpickler of `weights_only=True` can read it; anything else (a hostile pickle, a truncated
file, another format or version) is refused with a one-line `CheckpointError` naming the file.

torch's zip reader checks no CRCs, so a damaged file can load with changed weights: `save_checkpoint`
stores `state_dict_sha256` (`state_dict_sha256()`), and `load_checkpoint` recomputes it. It also refuses
non-finite weights and checks every field the exporter relies on (`neuron`, `dataset`, `arch_kwargs`,
`timesteps`, `teacher`) for presence, type and range, naming the file and the field.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from enof.datasets import DATASETS, DataError, dataset_spec, frame_hw_of
from enof.datasets.events import MAX_FRAME_SIDE
from enof.datasets.spec import DatasetSpec
from enof.trainer.finetuned_for import finetuned_for_problem
from enof.trainer.models import ARCHITECTURES, build_model
from enof.trainer.models.registry import unknown_architecture
from enof.trainer.neurons import NORSE_VERSION, NeuronConfig
from enof.formats.atomic import atomic_open
from enof.formats.digest import file_sha256
from enof.version import __version__
from enof.errors import CheckpointError

FORMAT = "enof-model"
FORMAT_VERSION = 1
MODES = ("snn", "ann")
DIGEST_FIELD = "state_dict_sha256"  # absent in checkpoints written before it existed: accepted (design.md §2)


@dataclass
class Checkpoint:
    """The fields of `model.pt`. `mode` is "snn" for the EnOF network, "ann" for its teacher."""

    arch: str
    arch_kwargs: dict[str, Any]
    neuron: dict[str, Any]
    timesteps: int
    repact: bool
    state_dict: dict[str, torch.Tensor]
    dataset: DatasetSpec  # on disk its record() (docs/design.md §2)
    teacher: dict[str, str] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    train_config: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    mode: str = "snn"
    # Set by `enof-train finetune` (enof.trainer.finetune.finetune_record): the target the weights were
    # fine-tuned on with its fixed-point forward; None for a checkpoint trained in float only.
    finetuned_for: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self), "dataset": self.dataset.record()}


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


def state_dict_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """Hex sha256 over every tensor's name, dtype, shape and bytes, in name order (device-independent)."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(tensor.dtype), list(tensor.shape)]).encode() + b"\n")
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> str:
    """Write `checkpoint` to `path` atomically, with the digest of its state dict; returns the file's sha256."""
    if checkpoint.mode not in MODES:
        raise ValueError(f"Checkpoint.mode must be one of {MODES}, got {checkpoint.mode!r}")
    payload = checkpoint.to_dict()
    payload["state_dict"] = {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()}
    return write_checkpoint_payload(payload, path)


def write_checkpoint_payload(payload: dict[str, Any], path: str | os.PathLike) -> str:
    """Write a checkpoint's fields as they go on disk (``Checkpoint.to_dict``: the dataset as its record), with the
    digest of their state dict, atomically; returns the file's sha256. Tests write damaged records through it."""
    payload = {**payload, DIGEST_FIELD: state_dict_sha256(payload["state_dict"])}
    atomic_torch_save(payload, path)
    return file_sha256(path)


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and check a `model.pt`: format, version, field types and ranges, the state dict's digest,
    finite weights; every problem is a one-line CheckpointError naming the file and the field."""
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
    bad = [k for k, v in raw["state_dict"].items() if not (isinstance(k, str) and _is_dense_tensor(v))]
    if bad:
        raise CheckpointError(f"{path}: state_dict entry {_shown(bad[0])} is not a dense tensor named by a string")
    mode = raw.get("mode", "snn")
    if mode not in MODES:
        raise CheckpointError(f"{path}: checkpoint field 'mode' is {mode!r}, expected one of {MODES}")
    if not isinstance(raw.get("finetuned_for"), (dict, type(None))):
        raise CheckpointError(f"{path}: checkpoint field 'finetuned_for' has type {type(raw['finetuned_for']).__name__}")
    problem = finetuned_for_problem(raw.get("finetuned_for"))
    if problem is not None:
        raise _field_error(path, *problem)
    _check_digest(path, raw)
    _check_weight_values(path, raw["state_dict"])
    _check_fields(path, raw)
    names = {f.name for f in fields(Checkpoint)}
    return Checkpoint(**{k: v for k, v in raw.items() if k in names and k != "dataset"},
                      dataset=DatasetSpec.from_record(raw["dataset"]))


def _check_digest(path: Path, raw: dict) -> None:
    stored = raw.get(DIGEST_FIELD)
    if stored is None:  # written before the digest existed (design.md §2)
        return
    if not isinstance(stored, str) or stored != state_dict_sha256(raw["state_dict"]):
        raise CheckpointError(
            f"{path}: the weights do not match the checkpoint's {DIGEST_FIELD} (the file was damaged or "
            "changed after enof wrote it); use an intact copy or train again"
        )


def _check_weight_values(path: Path, state_dict: dict[str, torch.Tensor]) -> None:
    """Finite floats everywhere, and BatchNorm variances >= 0 (folding takes their square root)."""
    for name, tensor in state_dict.items():
        if not tensor.is_floating_point():
            if name.endswith("num_batches_tracked") and tensor.dtype == torch.int64:
                continue  # BatchNorm's step counter, the one integer an nn.Module's state holds
            raise CheckpointError(f"{path}: state_dict tensor '{name}' is {str(tensor.dtype).removeprefix('torch.')}; "
                                  "a network's weights are floating point (float32 as enof-train writes them)")
        bad = int((~torch.isfinite(tensor)).sum())
        if bad:
            raise CheckpointError(
                f"{path}: state_dict tensor '{name}' holds {bad} non-finite value(s) (NaN or inf) of "
                f"{tensor.numel()}; a network must have finite weights (did the training diverge?)"
            )
        if name.endswith("running_var") and bool((tensor < 0).any()):
            raise CheckpointError(
                f"{path}: state_dict tensor '{name}' holds {int((tensor < 0).sum())} negative variance(s); "
                "a BatchNorm variance is >= 0"
            )


def _field_error(path: Path, name: str, what: str) -> CheckpointError:
    return CheckpointError(f"{path}: checkpoint field '{name}' {what}")


def _shown(value: Any) -> str:
    """A short quotation of a refused value (repr of a huge int would be long, or refused by Python)."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_dense_tensor(value: Any) -> bool:
    """What an nn.Module's state dict holds: strided, not quantized (sparse or quantized ones come only
    from a hand-made or hostile file, and torch's checks and hashing do not all accept them)."""
    return isinstance(value, torch.Tensor) and value.layout == torch.strided and not value.is_quantized


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= sys.float_info.max if isinstance(value, int) else math.isfinite(value)


def _entry(path: Path, record: dict, parent: str, key: str) -> Any:
    if key not in record:
        raise _field_error(path, f"{parent}.{key}", "is missing")
    return record[key]


def _check_fields(path: Path, raw: dict) -> None:
    """The nested fields the exporter and runtime read: present, of their type, in their range."""
    if raw["timesteps"] < 1:
        raise _field_error(path, "timesteps", f"must be >= 1, got {raw['timesteps']}")
    _check_neuron(path, raw["neuron"])
    _check_dataset(path, raw["dataset"])
    _check_arch(path, raw["arch"], raw["arch_kwargs"], raw["dataset"], raw.get("train_config"))
    _check_teacher(path, raw["teacher"])


def _check_neuron(path: Path, neuron: dict) -> None:
    names = [f.name for f in fields(NeuronConfig)]
    for key in names:
        value = _entry(path, neuron, "neuron", key)
        if key == "surrogate" and not isinstance(value, str):
            raise _field_error(path, f"neuron.{key}", f"must be a string, got {_shown(value)}")
        if key != "surrogate" and not _is_number(value):
            raise _field_error(path, f"neuron.{key}", f"must be a finite number, got {_shown(value)}")
    unknown = sorted(set(neuron) - set(names), key=str)
    if unknown:
        raise _field_error(path, f"neuron.{unknown[0]}", f"is not a neuron parameter (they are {', '.join(names)})")
    try:
        NeuronConfig(**neuron)
    except ValueError as exc:  # its range checks read "NeuronConfig.decay must be in [0, 1), got 1.5"
        name, _, rule = str(exc).removeprefix("NeuronConfig.").partition(" ")
        raise _field_error(path, f"neuron.{name}", rule) from None


def _check_dataset(path: Path, dataset: dict) -> None:
    name = _entry(path, dataset, "dataset", "name")
    if not isinstance(name, str) or not name:
        raise _field_error(path, "dataset.name", f"must be a data set name, got {_shown(name)}")
    shape = _entry(path, dataset, "dataset", "input_shape")
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3 and all(_is_int(v) and v >= 1 for v in shape)):
        raise _field_error(path, "dataset.input_shape", f"must be 3 positive integers [C, H, W], got {_shown(shape)}")
    classes = _entry(path, dataset, "dataset", "num_classes")
    if not (_is_int(classes) and classes >= 2):
        raise _field_error(path, "dataset.num_classes", f"must be an integer >= 2, got {_shown(classes)}")
    if not isinstance(dataset.get("temporal", False), bool):
        raise _field_error(path, "dataset.temporal", f"must be true or false, got {_shown(dataset['temporal'])}")
    norm = _entry(path, dataset, "dataset", "normalization")
    if not isinstance(norm, dict):
        raise _field_error(path, "dataset.normalization", f"must be a dict of 'mean' and 'std', got {_shown(norm)}")
    for key in ("mean", "std"):
        values = _entry(path, norm, "dataset.normalization", key)
        if not (isinstance(values, (list, tuple)) and len(values) == shape[0] and all(map(_is_number, values))):
            raise _field_error(path, f"dataset.normalization.{key}",
                               f"must be {shape[0]} finite number(s), one per input channel, got {_shown(values)}")
    if not all(v > 0 for v in norm["std"]):
        raise _field_error(path, "dataset.normalization.std", f"must be > 0 in every channel, got {_shown(norm['std'])}")
    _check_known_dataset(path, dataset)


def _check_known_dataset(path: Path, dataset: dict) -> None:
    """A data set enof loads must have the shape and classes its loader yields (the runtime feeds those)."""
    if dataset["name"] not in DATASETS:
        return  # someone else's data: only the checks above apply
    spec = dataset_spec(dataset["name"])
    if spec.temporal and dataset.get("temporal") and len(dataset["input_shape"]) == 3:
        try:  # event frames may be binned to any size (enof-train --frame-size); their channels are fixed
            spec = dataset_spec(dataset["name"], frame_hw_of(DatasetSpec.from_record(dataset)))
        except DataError:
            raise _field_error(path, "dataset.input_shape", f"is {_shown(list(dataset['input_shape']))}; expected "
                               f"[{spec.input_shape[0]}, H, W] with H and W from 1 to {MAX_FRAME_SIDE}") from None
    for key, expected in (("input_shape", list(spec.input_shape)), ("num_classes", spec.num_classes)):
        found = list(dataset[key]) if key == "input_shape" else dataset[key]
        if found != expected:
            raise _field_error(path, f"dataset.{key}", f"is {_shown(found)}, but {spec.name} has {expected}")


def _check_arch(path: Path, arch: str, kwargs: dict, dataset: dict, train_config=None) -> None:
    """A known architecture, its own arguments of their default's type, agreeing with the data set."""
    spec = ARCHITECTURES.get(arch)
    if spec is None:
        module = train_config.get("arch_module") if isinstance(train_config, dict) else None
        module = module if isinstance(module, str) and module.isprintable() and len(module) < 200 else None
        raise _field_error(path, "arch", f"is {arch!r}, {unknown_architecture(arch, module)}")
    params = inspect.signature(spec.build_backbone).parameters
    defaults = {"num_classes": spec.num_classes, **{n: p.default for n, p in params.items() if n != "acts"}}
    for key, value in kwargs.items():
        if key not in defaults:
            raise _field_error(path, f"arch_kwargs.{key}", f"is not an argument of {arch} (it takes {', '.join(defaults)})")
        if _is_int(defaults[key]) and not (_is_int(value) and value >= 1):
            raise _field_error(path, f"arch_kwargs.{key}", f"must be a positive integer, got {_shown(value)}")
    given = {**defaults, **kwargs}
    for key, expected, source in (("num_classes", dataset["num_classes"], "dataset.num_classes"),
                                  ("in_channels", dataset["input_shape"][0], "dataset.input_shape[0]")):  # fmt: skip
        if key in given and given[key] != expected:
            how = "" if key in kwargs else f" ({arch}'s default)"
            raise _field_error(path, f"arch_kwargs.{key}", f"is {given[key]}{how}, but {source} is {expected}")


def _check_teacher(path: Path, teacher: dict | None) -> None:
    if teacher is None:
        return
    for key in ("path", "sha256"):
        value = _entry(path, teacher, "teacher", key)
        if not isinstance(value, str) or not value:
            raise _field_error(path, f"teacher.{key}", f"must be a non-empty string, got {_shown(value)}")
    if len(teacher["sha256"]) != 64 or set(teacher["sha256"]) - set("0123456789abcdef"):
        raise _field_error(path, "teacher.sha256", f"must be 64 lowercase hex digits, got {_shown(teacher['sha256'])}")


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
    return {"enof": __version__, "torch": str(torch.__version__), "norse": NORSE_VERSION}
