"""One training phase (the ANN teacher or the SNN): its loaders (a DistributedSampler's shard under torchrun),
the model on the device (DDP around it with several processes), optimizer and schedule, the epoch loop with
progress, metrics and the resume file after every epoch, and the evaluation. enof.trainer.loop runs the phases.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset

from enof.datasets import LoadedDataset
from enof.errors import CheckpointError, EnofError
from enof.trainer.config import TrainConfig
from enof.trainer.distributed import Distributed, convert_sync_batchnorm
from enof.trainer.execution import Execution, optimizer_step
from enof.trainer.models import repeat_over_time
from enof.trainer.progress import MetricsLog, StepReport, TrainProgress
from enof.trainer.resume import ResumeState, rng_state, set_rng_state, write_resume_state

EVAL_BATCH = 256


class StopRequested(Exception):
    """`stop_after_epochs` epochs finished in this invocation; the resume file holds the run."""

    def __init__(self, phase: str, epoch: int, epochs: int) -> None:
        super().__init__(f"stopped after {phase} epoch {epoch}/{epochs} as asked (--stop-after-epochs)")
        self.phase, self.epoch, self.epochs = phase, epoch, epochs


EpochHook = Callable[[str, int], None]  # (phase "teacher" | "snn", epochs completed)


@dataclass
class RunContext:
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
class Phase:
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


def _loaders(run: RunContext) -> tuple[DataLoader, DataLoader, DistributedSampler | None, torch.Generator]:
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


def _prepare(model: nn.Module, run: RunContext) -> nn.Module:
    """On the device (synchronous BN if asked), wrapped in DDP when there are several processes."""
    model = run.execution.prepare_model(model)
    if run.dist.active:
        if run.config.sync_bn:
            model = convert_sync_batchnorm(model, run.execution.device)
        ids = [run.execution.device] if run.execution.is_cuda else None
        model = DistributedDataParallel(model, device_ids=ids)
    return model


def _resume(phase: Phase, run: RunContext, stateful: tuple, generator: torch.Generator,
            extra_state: dict) -> tuple[int, list]:
    """(first epoch, history so far): (0, []), or where the resume file left this phase, its model, optimizer,
    scheduler, scaler (``stateful``, in that order) and this rank's RNG states loaded back."""
    state = run.resume
    if state is None or state.phase != phase.name:
        return 0, []
    if extra_state.get("teacher") != state.raw.get("teacher"):
        raise CheckpointError(f"{state.path}: the teacher changed since this run was interrupted")
    core, optimizer, scheduler, scaler = stateful
    core.load_state_dict(state.raw["model"])
    optimizer.load_state_dict(state.raw["optimizer"])
    scheduler.load_state_dict(state.raw["scheduler"])
    if state.raw.get("scaler"):  # empty when saved by a disabled (non-fp16) scaler
        scaler.load_state_dict(state.raw["scaler"])
    set_rng_state(state.rng_for(run.dist.rank), generator, run.execution.device)
    return state.epoch, list(state.raw["history"])


def run_phase(phase: Phase, run: RunContext, extra_state: dict) -> dict:
    """Train `phase.model` for its epochs (resuming if the resume file is at this phase)."""
    config, execution, dist, progress = run.config, run.execution, run.dist, run.progress
    temporal, device = run.data.spec.temporal, execution.device
    model = _prepare(phase.model, run)
    core = _core(model)
    train_loader, test_loader, sampler, generator = _loaders(run)
    optimizer = make_optimizer(core, config)
    scheduler = make_scheduler(optimizer, config.schedule, phase.epochs)
    scaler = execution.grad_scaler()
    start_epoch, history = _resume(phase, run, (core, optimizer, scheduler, scaler), generator, extra_state)
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
