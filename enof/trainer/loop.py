"""Training: the ANN teacher (or a given one), then the EnOF SNN with CE + λ·L_AF (or KD, or CE).

`train(TrainConfig) -> TrainResult` writes `model.pt` and `<stem>.teacher.pt` atomically. After
every epoch it writes `<stem>.resume.pt` (weights, optimizer, scheduler, RNG states); with
`resume=True` an interrupted run continues from there and ends with the same weights as an
uninterrupted run with the same seed. The resume file is removed when the run completes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader

from enof.errors import CheckpointError, EnofError
from enof.trainer.checkpoint import (
    Checkpoint,
    atomic_torch_save,
    build_model_from_checkpoint,
    load_checkpoint,
    safe_torch_load,
    save_checkpoint,
    teacher_reference,
    versions,
)
from enof.trainer.data import LoadedDataset, dataset_spec, load_dataset
from enof.trainer.losses import DistillConfig, enof_loss
from enof.trainer.models import build_model, repeat_over_time
from enof.trainer.neurons import NeuronConfig

SCHEDULES = ("cosine", "step", "none")
OPTIMIZERS = ("sgd", "adam")

# Per data set defaults; digits' were chosen so that `enof-train --dataset digits --arch
# digits_cnn -T 2` reaches ≥ 97% test accuracy in about a minute on 2 CPU cores. CIFAR's follow
# the EnOF group's recipe (SGD 0.1, momentum 0.9, wd 1e-4, cosine, batch 128; 400 epochs in the
# paper's scripts — 100 here, the older scripts' count, as a default one can afford).
# `threads` (torch intra-op threads, set by the CLI): digits' net is too small for threads to pay
# (2 threads: same wall time, twice the CPU, and many times slower on a shared, loaded machine);
# 0 keeps torch's default (all cores) for the CIFAR networks.
DATASET_DEFAULTS: dict[str, dict] = {
    "digits": dict(epochs=30, teacher_epochs=15, lr=0.05, batch_size=64, optimizer="sgd", weight_decay=5e-4,
                   threads=1),
    "cifar10": dict(epochs=100, teacher_epochs=100, lr=0.1, batch_size=128, optimizer="sgd", weight_decay=1e-4,
                    threads=0),
    "cifar100": dict(epochs=100, teacher_epochs=100, lr=0.1, batch_size=128, optimizer="sgd", weight_decay=1e-4,
                     threads=0),
    "cifar10dvs": dict(epochs=100, teacher_epochs=100, lr=0.1, batch_size=32, optimizer="sgd", weight_decay=1e-4,
                       threads=0),
}


@dataclass
class TrainConfig:
    """Everything one training run depends on; `None` fields take the data set's defaults."""

    dataset: str = "digits"
    data_root: str | None = None
    arch: str = "digits_cnn"
    arch_kwargs: dict = field(default_factory=dict)
    timesteps: int = 2
    epochs: int | None = None
    teacher_epochs: int | None = None
    lr: float | None = None
    schedule: str = "cosine"
    optimizer: str | None = None
    weight_decay: float | None = None
    batch_size: int | None = None
    seed: int = 0
    laf: bool = True
    repact: bool = True
    kd: bool = False
    lam: float = 0.1
    tau: float | None = None  # None: 20 for L_AF, 3 for KD
    out: str = "model.pt"
    resume: bool = False
    teacher: str | None = None
    neuron: dict = field(default_factory=lambda: NeuronConfig().to_dict())
    threads: int | None = None  # torch threads the caller should use (0: torch's default)

    def resolved(self) -> "TrainConfig":
        """A copy with the data set's defaults filled in and every choice checked."""
        dataset_spec(self.dataset)  # unknown names are a DataError
        defaults = DATASET_DEFAULTS[self.dataset]
        filled = replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
        if filled.laf and filled.kd:
            raise EnofError("--laf and --kd are alternatives: choose one distillation (or neither)")
        if filled.schedule not in SCHEDULES:
            raise EnofError(f"unknown schedule '{filled.schedule}'; choose one of {', '.join(SCHEDULES)}")
        if filled.optimizer not in OPTIMIZERS:
            raise EnofError(f"unknown optimizer '{filled.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
        for name in ("timesteps", "epochs", "batch_size"):
            if getattr(filled, name) < 1:
                raise EnofError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(filled, name)}")
        if filled.teacher_epochs < 0 or filled.lr <= 0:
            raise EnofError("--teacher-epochs must be >= 0 and --lr > 0")
        return filled

    @property
    def distill(self) -> DistillConfig:
        method = "laf" if self.laf else "kd" if self.kd else "none"
        return DistillConfig(method=method, weight=self.lam, tau=self.tau)

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        """(model.pt, teacher file, resume file)."""
        out = Path(self.out)
        return out, out.with_name(f"{out.stem}.teacher.pt"), out.with_name(f"{out.stem}.resume.pt")


@dataclass
class TrainResult:
    model_path: Path
    teacher_path: Path | None
    test_accuracy: float
    teacher_test_accuracy: float | None
    checkpoint: Checkpoint


EpochHook = Callable[[str, int], None]  # (phase "teacher" | "snn", epochs completed)


class TrainProgress:
    """Rich progress bars, one per phase, with running loss, train and test accuracy."""

    def __init__(self, enabled: bool = True, console=None) -> None:
        self.enabled, self.console, self._bar = enabled, console, None

    def start(self, name: str, epochs: int, batches_per_epoch: int, start_epoch: int) -> int:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description:>7}"), BarColumn(bar_width=20),
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}  loss {task.fields[loss]:.3f}  "
                       "train {task.fields[train_acc]:.1%}  test {task.fields[test_acc]}"),
            TimeElapsedColumn(), console=self.console, disable=not self.enabled,
        )
        self._bar.start()
        return self._bar.add_task(name, total=epochs * batches_per_epoch, completed=start_epoch * batches_per_epoch,
                                  epoch=start_epoch, epochs=epochs, loss=0.0, train_acc=0.0, test_acc="-")

    def advance(self, task: int, loss: float, train_acc: float) -> None:
        self._bar.update(task, advance=1, loss=loss, train_acc=train_acc)

    def epoch_done(self, task: int, epoch: int, test_acc: float) -> None:
        self._bar.update(task, epoch=epoch, test_acc=f"{test_acc:.1%}")

    def finish(self, task: int) -> None:
        self._bar.stop()


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
def evaluate(model: nn.Module, loader: DataLoader, temporal: bool, timesteps: int) -> float:
    """Top-1 accuracy in [0, 1] of `model` (put in eval mode) on `loader`."""
    model.eval()
    correct = total = 0
    for x, y in loader:
        logits = model(to_time_major(x, temporal, timesteps)).logits
        correct += int((logits.argmax(1) == y).sum())
        total += len(y)
    return correct / max(total, 1)


@dataclass
class _Phase:
    """One training phase (teacher or SNN): its model, loss and where its epochs are saved."""

    name: str
    model: nn.Module
    epochs: int
    timesteps: int
    loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _rng_state(generator: torch.Generator) -> dict:
    return {"torch": torch.get_rng_state(), "loader": generator.get_state(), "python": list(random.getstate()[1])}


def _set_rng_state(state: dict, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["loader"])
    random.setstate((3, tuple(int(v) for v in state["python"]), None))


def _run_phase(phase: _Phase, data: LoadedDataset, config: TrainConfig, progress: TrainProgress,
               on_epoch_end: EpochHook | None, extra_state: dict) -> dict:
    """Train `phase.model` for its epochs (resuming if the resume file is at this phase)."""
    _, _, resume_path = config.paths
    temporal = data.spec.temporal
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(data.train, batch_size=config.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(data.test, batch_size=256)
    optimizer = make_optimizer(phase.model, config)
    scheduler = make_scheduler(optimizer, config.schedule, phase.epochs)
    start_epoch, history = 0, []
    state = safe_torch_load(resume_path, "resume state") if config.resume and resume_path.is_file() else None
    if state is not None and state["phase"] == phase.name:
        if extra_state.get("teacher") != state.get("teacher"):
            raise CheckpointError(f"{resume_path}: the teacher changed since this run was interrupted")
        phase.model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], generator)
        start_epoch, history = state["epoch"], list(state["history"])
    task = progress.start(phase.name, phase.epochs, len(train_loader), start_epoch)
    try:
        for epoch in range(start_epoch, phase.epochs):
            phase.model.train()
            loss_sum = correct = seen = 0
            for x, y in train_loader:
                inputs = to_time_major(x, temporal, phase.timesteps)
                optimizer.zero_grad(set_to_none=True)
                loss, logits = phase.loss_fn(phase.model, inputs, x, y)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(y)
                correct += int((logits.argmax(1) == y).sum())
                seen += len(y)
                progress.advance(task, loss=loss_sum / seen, train_acc=correct / seen)
            scheduler.step()
            test_acc = evaluate(phase.model, test_loader, temporal, phase.timesteps)
            history.append({"epoch": epoch + 1, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                            "test_accuracy": test_acc})
            progress.epoch_done(task, epoch + 1, test_acc)
            atomic_torch_save(
                {"format": "enof-resume", "phase": phase.name, "epoch": epoch + 1, "config": _config_record(config),
                 "model": phase.model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "rng": _rng_state(generator), "history": history,
                 **extra_state},
                resume_path,
            )
            if on_epoch_end is not None:
                on_epoch_end(phase.name, epoch + 1)
    finally:
        progress.finish(task)
    return {"test_accuracy": history[-1]["test_accuracy"] if history else evaluate(
        phase.model, test_loader, temporal, phase.timesteps), "history": history}


def _config_record(config: TrainConfig) -> dict:
    record = asdict(config)
    record.pop("resume")
    return record


def _checkpoint(model: nn.Module, config: TrainConfig, data: LoadedDataset, mode: str, metrics: dict,
                teacher: dict | None) -> Checkpoint:
    return Checkpoint(
        arch=config.arch, arch_kwargs=_arch_kwargs(config, data), neuron=dict(config.neuron),
        timesteps=config.timesteps if mode == "snn" else 1, repact=config.repact if mode == "snn" else False,
        state_dict=model.state_dict(), dataset=data.spec.record(), teacher=teacher, metrics=metrics,
        seed=config.seed, train_config=_config_record(config), versions=versions(), mode=mode,
    )


def _arch_kwargs(config: TrainConfig, data: LoadedDataset) -> dict:
    return {"num_classes": data.spec.num_classes, "in_channels": data.spec.input_shape[0], **config.arch_kwargs}


def _build(config: TrainConfig, data: LoadedDataset, mode: str) -> nn.Module:
    return build_model(config.arch, mode=mode, repact=config.repact if mode == "snn" else False,
                       timesteps=config.timesteps if mode == "snn" else 1,
                       neuron=NeuronConfig(**config.neuron), **_arch_kwargs(config, data))


def _check_resume_config(config: TrainConfig) -> None:
    _, _, resume_path = config.paths
    if not (config.resume and resume_path.is_file()):
        return
    state = safe_torch_load(resume_path, "resume state")
    if not isinstance(state, dict) or state.get("format") != "enof-resume":
        raise CheckpointError(f"{resume_path}: not an enof resume state")
    if state["config"] != _config_record(config):
        changed = sorted(k for k, v in _config_record(config).items() if state["config"].get(k) != v)
        raise CheckpointError(f"{resume_path}: made with other settings ({', '.join(changed)}); "
                              "rerun with the same flags or without --resume")


def load_teacher(path: str | Path, config: TrainConfig, data: LoadedDataset) -> nn.Module:
    """A frozen ANN teacher from a checkpoint, checked against the run's arch and data set."""
    ckpt = load_checkpoint(path)
    if ckpt.arch != config.arch or ckpt.dataset.get("name") != data.spec.name:
        raise CheckpointError(f"{path}: teacher is {ckpt.arch} on {ckpt.dataset.get('name')}, "
                              f"this run trains {config.arch} on {data.spec.name}")
    return build_model_from_checkpoint(ckpt, mode="ann")


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def train_teacher(config: TrainConfig, data: LoadedDataset, progress: TrainProgress,
                  on_epoch_end: EpochHook | None = None) -> tuple[Path, float]:
    """Train the ANN of the same architecture with CE, save it; returns (path, test accuracy)."""
    _, teacher_path, _ = config.paths
    torch.manual_seed(config.seed)
    model = _build(config, data, "ann")
    teacher_config = replace(config, epochs=config.teacher_epochs)

    def ce_loss(net, inputs, _x, y):
        logits = net(inputs).logits
        return nn.functional.cross_entropy(logits, y), logits

    phase = _Phase("teacher", model, config.teacher_epochs, 1, ce_loss)
    result = _run_phase(phase, data, teacher_config, progress, on_epoch_end, {})
    metrics = {"test_accuracy": result["test_accuracy"], "history": result["history"]}
    save_checkpoint(_checkpoint(model, config, data, "ann", metrics, None), teacher_path)
    return teacher_path, result["test_accuracy"]


def train(config: TrainConfig, progress: TrainProgress | None = None, on_epoch_end: EpochHook | None = None,
          data: LoadedDataset | None = None) -> TrainResult:
    """Teacher (unless given or not needed), then the SNN; writes and returns the checkpoint."""
    config = config.resolved()
    progress = progress or TrainProgress(enabled=False)
    _check_resume_config(config)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    model_path, teacher_path, resume_path = config.paths
    data = data or load_dataset(config.dataset, config.data_root, train_augment=True, timesteps=config.timesteps)
    teacher, teacher_record, teacher_acc = None, None, None
    if config.distill.method != "none":
        state = safe_torch_load(resume_path, "resume state") if config.resume and resume_path.is_file() else None
        if config.teacher is not None:
            teacher_path = Path(config.teacher)
        elif state is None or state["phase"] == "teacher":
            teacher_path, _ = train_teacher(config, data, progress, on_epoch_end)
        teacher = freeze(load_teacher(teacher_path, config, data))
        teacher_acc = load_checkpoint(teacher_path).metrics.get("test_accuracy")
        teacher_record = teacher_reference(teacher_path, model_path)
    torch.manual_seed(config.seed + 1)
    model = _build(config, data, "snn")
    distill, temporal = config.distill, data.spec.temporal

    def snn_loss(net, inputs, x, y):
        out = net(inputs)
        teacher_out = None
        if teacher is not None:
            with torch.no_grad():
                teacher_out = teacher(inputs if temporal else repeat_over_time(x, 1))
        parts = enof_loss(out, y, teacher_out, teacher.fc if teacher is not None else None, distill)
        return parts.total, out.logits

    phase = _Phase("snn", model, config.epochs, config.timesteps, snn_loss)
    result = _run_phase(phase, data, config, progress, on_epoch_end, {"teacher": teacher_record})
    metrics = {"test_accuracy": result["test_accuracy"], "teacher_test_accuracy": teacher_acc,
               "history": result["history"], "wall_s": time.perf_counter() - started}
    checkpoint = _checkpoint(model, config, data, "snn", metrics, teacher_record)
    save_checkpoint(checkpoint, model_path)
    resume_path.unlink(missing_ok=True)
    return TrainResult(model_path, teacher_path if teacher is not None else None, result["test_accuracy"],
                       teacher_acc, checkpoint)
