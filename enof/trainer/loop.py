"""Training: the ANN teacher (or a given one), then the EnOF SNN with CE + λ·L_AF (or KD, or CE).

`train(TrainConfig) -> TrainResult` writes `model.pt` and `<stem>.teacher.pt` atomically. After
every epoch it writes `<stem>.resume.pt` (weights, optimizer, scheduler, scaler, every process's
RNG states) and `metrics.jsonl`; with `resume=True` an interrupted run continues from there and
ends with the same weights as an uninterrupted run with the same seed. The resume file is removed
when the run completes. On a device (enof/trainer/execution.py) and under torchrun
(enof/trainer/distributed.py: DDP, every rank holding the frozen teacher, rank 0 writing files).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset

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
from enof.datasets import LoadedDataset, load_dataset
from enof.datasets.subset import limit_split
from enof.trainer.distributed import Distributed, convert_sync_batchnorm
from enof.trainer.execution import Execution, full_precision, optimizer_step, resolve_execution
from enof.trainer.losses import enof_loss
from enof.trainer.models import build_model, repeat_over_time
from enof.trainer.models.registry import provider_of
from enof.trainer.neurons import NeuronConfig
from enof.trainer.progress import MetricsLog, StepReport, TrainProgress
from enof.trainer.resume import ResumeState, read_resume_state, rng_state, set_rng_state, write_resume_state

EVAL_BATCH = 256


@dataclass
class TrainResult:
    model_path: Path
    teacher_path: Path | None
    test_accuracy: float
    teacher_test_accuracy: float | None
    checkpoint: Checkpoint


class StopRequested(Exception):
    """`stop_after_epochs` epochs finished in this invocation; the resume file holds the run."""

    def __init__(self, phase: str, epoch: int, epochs: int) -> None:
        super().__init__(f"stopped after {phase} epoch {epoch}/{epochs} as asked (--stop-after-epochs)")
        self.phase, self.epoch, self.epochs = phase, epoch, epochs


EpochHook = Callable[[str, int], None]  # (phase "teacher" | "snn", epochs completed)


@dataclass
class _Run:
    """What every phase of one run shares: settings, data, device, process group, outputs."""

    config: TrainConfig
    data: LoadedDataset
    execution: Execution
    dist: Distributed
    progress: TrainProgress
    metrics: MetricsLog
    resume: ResumeState | None
    on_epoch_end: EpochHook | None = None
    epochs_this_invocation: int = field(default=0)


@dataclass
class _Phase:
    """One training phase (teacher or SNN): its model, epochs, timesteps and loss."""

    name: str
    model: nn.Module
    epochs: int
    timesteps: int
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def to_time_major(x: torch.Tensor, temporal: bool, timesteps: int) -> torch.Tensor:
    """Loader batch → model input (T, B, C, H, W): repeat static images, transpose event frames."""
    return x.transpose(0, 1).contiguous() if temporal else repeat_over_time(x, timesteps)


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or Adam; weight decay on conv/linear weights only, not on BN or biases."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if config.optimizer == "adam":
        return torch.optim.Adam(groups, lr=config.lr)
    return torch.optim.SGD(groups, lr=config.lr, momentum=0.9)


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, epochs: int):
    """Stepped once per epoch: cosine to 0, ×0.1 at 50% and 75% of the epochs, or constant."""
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if schedule == "step":
        milestones = [max(1, epochs // 2), max(1, (3 * epochs) // 4)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _epoch: 1.0)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, temporal: bool, timesteps: int,
             execution: Execution | None = None, dist: Distributed | None = None) -> float:
    """Top-1 accuracy in [0, 1] of `model` (put in eval mode) on `loader`; with `dist`, each rank
    holds a shard of the split and the counts are summed over the ranks (exact)."""
    execution = execution or Execution(torch.device("cpu"))
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=execution.device)
    total = 0
    for x, y in loader:
        x, y = execution.batch(x), y.to(execution.device, non_blocking=execution.is_cuda)
        with execution.autocast():
            logits = model(to_time_major(x, temporal, timesteps)).logits
        correct += (logits.argmax(1) == y).sum()
        total += len(y)
    correct_sum, total_sum = (dist or Distributed()).sum(float(correct), total, device=execution.device)
    return correct_sum / max(total_sum, 1)


def _core(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def _loaders(run: _Run) -> tuple[DataLoader, DataLoader, DistributedSampler | None, torch.Generator]:
    """Training loader (a DistributedSampler's shard under torchrun) and this rank's test shard."""
    config, dist, cuda = run.config, run.dist, run.execution.is_cuda
    generator = torch.Generator().manual_seed(config.seed + dist.rank)
    options = dict(num_workers=config.workers, persistent_workers=config.workers > 0, pin_memory=cuda)
    sampler = None
    if dist.launched:
        sampler = DistributedSampler(run.data.train, dist.world_size, dist.rank, shuffle=True, seed=config.seed)
        train_loader = DataLoader(run.data.train, batch_size=config.batch_size, sampler=sampler,
                                  generator=generator, **options)
        test = Subset(run.data.test, range(dist.rank, len(run.data.test), dist.world_size))
    else:
        train_loader = DataLoader(run.data.train, batch_size=config.batch_size, shuffle=True, generator=generator,
                                  **options)
        test = run.data.test
    return train_loader, DataLoader(test, batch_size=EVAL_BATCH, **options), sampler, generator


def _prepare(model: nn.Module, run: _Run) -> nn.Module:
    """On the device (synchronous BN if asked), wrapped in DDP when there are several processes."""
    model = run.execution.prepare_model(model)
    if run.dist.active:
        if run.config.sync_bn:
            model = convert_sync_batchnorm(model, run.execution.device)
        ids = [run.execution.device] if run.execution.is_cuda else None
        model = DistributedDataParallel(model, device_ids=ids)
    return model


def _run_phase(phase: _Phase, run: _Run, extra_state: dict) -> dict:
    """Train `phase.model` for its epochs (resuming if the resume file is at this phase)."""
    config, execution, dist, progress = run.config, run.execution, run.dist, run.progress
    temporal, device = run.data.spec.temporal, execution.device
    model = _prepare(phase.model, run)
    core = _core(model)
    train_loader, test_loader, sampler, generator = _loaders(run)
    optimizer = make_optimizer(core, config)
    scheduler = make_scheduler(optimizer, config.schedule, phase.epochs)
    scaler = execution.grad_scaler()
    start_epoch, history = 0, []
    state = run.resume
    if state is not None and state.phase == phase.name:
        if extra_state.get("teacher") != state.raw.get("teacher"):
            raise CheckpointError(f"{state.path}: the teacher changed since this run was interrupted")
        core.load_state_dict(state.raw["model"])
        optimizer.load_state_dict(state.raw["optimizer"])
        scheduler.load_state_dict(state.raw["scheduler"])
        if state.raw.get("scaler"):  # empty when saved by a disabled (non-fp16) scaler
            scaler.load_state_dict(state.raw["scaler"])
        set_rng_state(state.rng_for(dist.rank), generator, device)
        start_epoch, history = state.epoch, list(state.raw["history"])
    steps = len(train_loader)
    about = (f", batch {config.batch_size}{f' × {dist.world_size} processes' if dist.world_size > 1 else ''}, "
             f"{execution.describe()}")
    progress.start(phase.name, phase.epochs, steps, start_epoch, about)
    phase_started, steps_run = time.perf_counter(), 0
    try:
        for epoch in range(start_epoch, phase.epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            model.train()
            lr = optimizer.param_groups[0]["lr"]
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen, epoch_started = 0, time.perf_counter()
            for step, (x, y) in enumerate(train_loader, 1):
                x, y = execution.batch(x), y.to(device, non_blocking=execution.is_cuda)
                optimizer.zero_grad(set_to_none=True)
                with execution.autocast():
                    loss, logits = phase.loss_fn(model, to_time_major(x, temporal, phase.timesteps), x, y)
                optimizer_step(loss, optimizer, scaler)
                loss_sum += loss.detach().double() * len(y)
                correct += (logits.argmax(1) == y).sum()
                seen += len(y)
                steps_run += 1
                report = None
                if progress.wants_update(step):
                    elapsed = time.perf_counter() - phase_started
                    remaining = (phase.epochs - epoch) * steps - step
                    report = StepReport(phase.name, epoch + 1, phase.epochs, step, steps, float(loss_sum) / seen,
                                        float(correct) / seen, lr,
                                        seen * dist.world_size / max(time.perf_counter() - epoch_started, 1e-9),
                                        elapsed / steps_run * remaining)
                progress.advance(report)
            scheduler.step()
            epoch_s = time.perf_counter() - epoch_started
            loss_total, correct_total, seen_total = dist.sum(float(loss_sum), float(correct), seen, device=device)
            if not math.isfinite(loss_total):
                raise EnofError(f"{phase.name} epoch {epoch + 1}: the training loss became {loss_total} "
                                f"(lr {config.lr} too high?); the last finished epoch is kept in the resume file")
            test_acc = evaluate(core, test_loader, temporal, phase.timesteps, execution, dist)
            history.append({"epoch": epoch + 1, "loss": loss_total / seen_total,
                            "train_accuracy": correct_total / seen_total, "test_accuracy": test_acc})
            record = {"phase": phase.name, "epochs": phase.epochs, **history[-1], "lr": lr,
                      "images_per_s": seen_total / max(epoch_s, 1e-9), "epoch_s": epoch_s,
                      "world_size": dist.world_size, "device": str(device), "amp": execution.amp}
            run.metrics.append(record)
            rng_states = dist.gather(rng_state(generator, device))
            if dist.is_main:
                write_resume_state(config, phase.name, epoch + 1, dist.world_size, core, optimizer, scheduler, scaler,
                                   rng_states, history, run.metrics.records, extra_state)
            eta = (time.perf_counter() - phase_started) / max(steps_run, 1) * (phase.epochs - epoch - 1) * steps
            progress.epoch_done(record, eta)
            if run.on_epoch_end is not None:
                run.on_epoch_end(phase.name, epoch + 1)
            run.epochs_this_invocation += 1
            if config.stop_after_epochs == run.epochs_this_invocation:
                raise StopRequested(phase.name, epoch + 1, phase.epochs)
    finally:
        progress.finish()
    if not history:  # zero epochs (a teacher given --teacher-epochs 0): the untrained network's accuracy
        return {"test_accuracy": evaluate(core, test_loader, temporal, phase.timesteps, execution, dist), "history": []}
    return {"test_accuracy": history[-1]["test_accuracy"], "history": history}


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
    from enof.trainer.models import ARCHITECTURES

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
               data: LoadedDataset | None, dist: Distributed | None) -> _Run:
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
    return _Run(config, data, execution, dist, progress, metrics, resume, on_epoch_end)


def _train_teacher(run: _Run) -> tuple[Path, float]:
    config, data = run.config, run.data
    _, teacher_path, _ = config.paths
    torch.manual_seed(config.seed)
    model = _build(config, data, "ann")

    def ce_loss(net, inputs, _x, y):
        logits = net(inputs).logits
        return nn.functional.cross_entropy(full_precision(logits), y), logits

    result = _run_phase(_Phase("teacher", model, config.teacher_epochs, 1, ce_loss), run, {})
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

    result = _run_phase(_Phase("snn", model, config.epochs, config.timesteps, snn_loss), run, {"teacher": teacher_record})
    metrics = {"test_accuracy": result["test_accuracy"], "teacher_test_accuracy": teacher_acc,
               "history": result["history"], "wall_s": time.perf_counter() - started}
    checkpoint = _checkpoint(model, config, data, "snn", metrics, teacher_record)
    if run.dist.is_main:
        save_checkpoint(checkpoint, model_path)
        resume_path.unlink(missing_ok=True)
    run.dist.barrier()
    return TrainResult(model_path, teacher_path if teacher_record is not None else None, result["test_accuracy"],
                       teacher_acc, checkpoint)
