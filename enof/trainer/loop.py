"""Training: the ANN teacher (or a given one), then the EnOF SNN with CE + λ·L_AF (or KD, or CE).

`train(TrainConfig) -> TrainResult` writes `model.pt` and `<stem>.teacher.pt` atomically. After
every epoch it writes `<stem>.resume.pt` (weights, optimizer, scheduler, scaler, every process's
RNG states) and `metrics.jsonl`; with `resume=True` an interrupted run continues from there and
ends with the same weights as an uninterrupted run with the same seed. The resume file is removed
when the run completes. On a device (enof/trainer/execution.py) and under torchrun
(enof/trainer/distributed.py: DDP, every rank holding the frozen teacher, rank 0 writing files). Each phase's
loaders, epoch loop, resume and evaluation are enof/trainer/phase.py's; here, what runs in which phase and the
checkpoints they write.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from enof.datasets import LoadedDataset, load_dataset
from enof.datasets.subset import limit_split
from enof.errors import CheckpointError, EnofError
from enof.trainer.checkpoint import (
    Checkpoint,
    build_model_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
    teacher_reference,
    versions,
)
from enof.trainer.config import TrainConfig
from enof.trainer.distributed import Distributed
from enof.trainer.execution import full_precision, resolve_execution
from enof.trainer.losses import enof_loss
from enof.trainer.models import ARCHITECTURES, build_model, repeat_over_time
from enof.trainer.models.registry import provider_of
from enof.trainer.neurons import NeuronConfig
from enof.trainer.phase import EpochHook, Phase, RunContext, StopRequested, run_phase
from enof.trainer.progress import MetricsLog, TrainProgress
from enof.trainer.resume import read_resume_state

__all__ = ["StopRequested", "TrainConfig", "TrainProgress", "TrainResult", "load_teacher", "train", "train_teacher"]


@dataclass
class TrainResult:
    model_path: Path
    teacher_path: Path | None
    test_accuracy: float
    teacher_test_accuracy: float | None
    checkpoint: Checkpoint


def _checkpoint(model: nn.Module, config: TrainConfig, data: LoadedDataset, mode: str, metrics: dict,
                teacher: dict | None) -> Checkpoint:
    return Checkpoint(
        arch=config.arch, arch_kwargs=_arch_kwargs(config, data), neuron=dict(config.neuron),
        timesteps=config.timesteps if mode == "snn" else 1, repact=config.repact if mode == "snn" else False,
        state_dict=model.state_dict(), dataset=data.spec, teacher=teacher, metrics=metrics,
        seed=config.seed, train_config={**config.record(), "arch_module": provider_of(config.arch)},
        versions=versions(), mode=mode,
    )


def _arch_kwargs(config: TrainConfig, data: LoadedDataset) -> dict:
    return {"num_classes": data.spec.num_classes, "in_channels": data.spec.input_shape[0], **config.arch_kwargs}


def _build(config: TrainConfig, data: LoadedDataset, mode: str) -> nn.Module:
    return build_model(config.arch, mode=mode, repact=config.repact if mode == "snn" else False,
                       timesteps=config.timesteps if mode == "snn" else 1,
                       neuron=NeuronConfig(**config.neuron), **_arch_kwargs(config, data))


def _check_arch_fits(config: TrainConfig, data: LoadedDataset) -> None:
    """One forward of the ANN on a zero batch: an architecture too deep for the input size (ResNet20
    on 8×8 digits) is a one-line error now, not a torch traceback later."""
    shape = data.spec.input_shape
    try:
        with torch.no_grad():
            _build(config, data, "ann").eval()(torch.zeros(1, 1, *shape))
    except RuntimeError as exc:
        fitting = [name for name, spec in ARCHITECTURES.items() if spec.input_shape[1:] == shape[1:]]
        first = str(exc).strip().splitlines()[0][:120]
        hint = f"; for this input size use --arch {' or '.join(fitting)}" if fitting else ""
        raise EnofError(f"--arch {config.arch} does not fit the {'×'.join(map(str, shape))} input of "
                        f"{data.spec.name} ({first}){hint}") from None


def load_teacher(path, config: TrainConfig, data: LoadedDataset) -> tuple[nn.Module, Checkpoint]:
    """The ANN teacher of a checkpoint (and the checkpoint), checked against the run's arch and data set."""
    ckpt = load_checkpoint(path)
    if ckpt.mode != "ann":
        raise CheckpointError(f"{path}: a teacher is an ANN checkpoint (mode 'ann': the <stem>.teacher.pt enof-train "
                              f"writes beside model.pt); this one is mode {ckpt.mode!r}")
    if ckpt.arch != config.arch or ckpt.dataset.name != data.spec.name:
        raise CheckpointError(f"{path}: teacher is {ckpt.arch} on {ckpt.dataset.name}, "
                              f"this run trains {config.arch} on {data.spec.name}")
    return build_model_from_checkpoint(ckpt, mode="ann"), ckpt


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _start_run(config: TrainConfig, progress: TrainProgress | None, on_epoch_end: EpochHook | None,
               data: LoadedDataset | None, dist: Distributed | None) -> RunContext:
    """Check everything, join the process group, load (and limit) the data, read the resume file."""
    dist = dist or Distributed()
    execution = resolve_execution(config.device, config.amp, config.channels_last, config.compile,
                                  config.deterministic, dist.local_rank)
    resume = read_resume_state(config, dist.world_size) if config.resume else None
    dist.start(execution.device)
    execution.apply_backend_flags()
    if data is None:
        data = load_dataset(config.dataset, config.data_root, train_augment=True, timesteps=config.timesteps,
                            frame_hw=config.frame_size)
    data = LoadedDataset(data.spec, limit_split(data.train, config.train_limit, config.seed, "--train-limit"),
                         limit_split(data.test, config.test_limit, config.seed, "--test-limit"), data.notes)
    _check_arch_fits(config, data)
    progress = progress or TrainProgress(enabled=False)
    progress.enabled = progress.enabled and dist.is_main
    metrics = MetricsLog(config.metrics_path if dist.is_main else None, resume.raw.get("metrics") if resume else None)
    return RunContext(config, data, execution, dist, progress, metrics, resume, on_epoch_end)


def _train_teacher(run: RunContext) -> tuple[Path, float]:
    config, data = run.config, run.data
    _, teacher_path, _ = config.paths
    torch.manual_seed(config.seed)
    model = _build(config, data, "ann")

    def ce_loss(net, inputs, _x, y):
        logits = net(inputs).logits
        return nn.functional.cross_entropy(full_precision(logits), y), logits

    result = run_phase(Phase("teacher", model, config.teacher_epochs, 1, ce_loss), run, {})
    metrics = {"test_accuracy": result["test_accuracy"], "history": result["history"]}
    if run.dist.is_main:
        save_checkpoint(_checkpoint(model, config, data, "ann", metrics, None), teacher_path)
    run.dist.barrier()  # every rank reads the teacher file next
    return teacher_path, result["test_accuracy"]


def train_teacher(config: TrainConfig, data: LoadedDataset, progress: TrainProgress | None = None,
                  on_epoch_end: EpochHook | None = None) -> tuple[Path, float]:
    """Train the ANN of the same architecture with CE, save it; returns (path, test accuracy)."""
    return _train_teacher(_start_run(config.resolved(), progress, on_epoch_end, data, None))


def train(config: TrainConfig, progress: TrainProgress | None = None, on_epoch_end: EpochHook | None = None,
          data: LoadedDataset | None = None, dist: Distributed | None = None) -> TrainResult:
    """Teacher (unless given or not needed), then the SNN; writes and returns the checkpoint."""
    config = config.resolved()
    run = _start_run(config, progress, on_epoch_end, data, dist)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model_path, teacher_path, resume_path = config.paths
    data, execution = run.data, run.execution
    teacher, teacher_record, teacher_acc = None, None, None
    if config.distill.method != "none" or config.init == "teacher":
        if config.teacher is not None:
            teacher_path = Path(config.teacher)
        elif run.resume is None or run.resume.phase == "teacher":
            teacher_path, _ = _train_teacher(run)
        teacher_model, teacher_ckpt = load_teacher(teacher_path, config, data)  # read (and hashed) once
        if config.distill.method != "none":  # else it gave the SNN its start alone (--init teacher): CE alone
            teacher = execution.prepare_model(freeze(teacher_model))
        teacher_acc = teacher_ckpt.metrics.get("test_accuracy")
        teacher_record = teacher_reference(teacher_path, model_path)
    torch.manual_seed(config.seed + 1)
    model = _build(config, data, "snn")
    if config.init == "teacher":  # the same architecture: every tensor has its counterpart
        model.load_state_dict(teacher_model.state_dict())
    distill, temporal = config.distill, data.spec.temporal

    def snn_loss(net, inputs, x, y):
        out = net(inputs)
        teacher_out = None
        if teacher is not None:
            with torch.no_grad():
                teacher_out = teacher(inputs if temporal else repeat_over_time(x, 1))
        parts = enof_loss(out, y, teacher_out, teacher.fc if teacher is not None else None, distill)
        return parts.total, out.logits

    result = run_phase(Phase("snn", model, config.epochs, config.timesteps, snn_loss), run, {"teacher": teacher_record})
    metrics = {"test_accuracy": result["test_accuracy"], "teacher_test_accuracy": teacher_acc,
               "history": result["history"], "wall_s": time.perf_counter() - started}
    checkpoint = _checkpoint(model, config, data, "snn", metrics, teacher_record)
    if run.dist.is_main:
        save_checkpoint(checkpoint, model_path)
        resume_path.unlink(missing_ok=True)
    run.dist.barrier()
    return TrainResult(model_path, teacher_path if teacher_record is not None else None, result["test_accuracy"],
                       teacher_acc, checkpoint)
