"""Quantization-aware fine-tuning for a target: the exporter's own integers in the forward pass.

Every step, the current weights go through the exporter's chain (capture with BN folded →
partition → calibration on the exporter's calibration batch → ``enof.exporter.quantize.quantize``),
and the forward pass runs on the floats those integers stand for (``enof.fixed_point_rules``). The
trainer does not import the exporter: the caller passes the chain in (``QuantizerFactory``:
enof.exporter.finetune_target.ExportQuantizer), which hands back ``ChipValues``; gradients pass
straight through to the float weights (``w + (w_q − w).detach()``). BatchNorm is frozen (eval statistics) so that the folding the exporter
does is the folding trained through. Because the integers come from the exporter itself, exporting
the fine-tuned checkpoint reproduces them exactly (tests/trainer/test_finetune.py).

Not fake-quantized: an identity shortcut's diagonal (no torch parameter; its rounding is
``quantize_identity``'s, error ≤ half a step) and the decay, exact for decay = 0.25
(dv = 3072 / 4096) and rounded to 1/4096 otherwise.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader

from enof.datasets import LoadedDataset, frame_hw_of, load_dataset
from enof.datasets.subset import limit_split
from enof.errors import CheckpointError, EnofError
from enof.fixed_point_rules import ChipValues, FixedPointLimits, input_value, spike_value
from enof.folding import BatchNormStats, unfold_avgpool_from_conv, unfold_batchnorm_beta, unfold_batchnorm_weight
from enof.formats.digest import file_sha256
from enof.formats.outputs import check_output_file
from enof.hardware_profiles import Profile, load_profile
from enof.trainer.checkpoint import (
    Checkpoint,
    build_model_from_checkpoint,
    load_checkpoint,
    resolve_teacher_path,
    save_checkpoint,
    teacher_reference,
)
from enof.trainer.config import TrainConfig
from enof.trainer.execution import Execution, resolve_device
from enof.trainer.loop import load_teacher
from enof.trainer.phase import EVAL_BATCH, evaluate, make_scheduler, to_time_major
from enof.trainer.losses import enof_loss
from enof.trainer.models import repeat_over_time

CALIBRATE = 32  # the exporter's default --calibrate: the fine-tuner must see the scales the export will choose


@dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tuning run: which checkpoint, for which target, how long."""

    checkpoint: str
    target: str  # loihi | loihi2 | a profile TOML path
    # SGD momentum 0.9, cosine; a 25th of digits' training rate, to stay near the float optimum: on digits
    # (seeds 0, 1) 3 epochs at 0.002 lost no float test image and won back the fixed-point ones.
    epochs: int = 3
    lr: float = 0.002
    batch_size: int = 64
    seed: int = 0
    calibrate: int = CALIBRATE
    data_root: str | None = None
    out: str | None = None  # default: <stem>-<target>-ft.pt beside the checkpoint
    laf: bool = True  # keep λ·L_AF (the checkpoint's λ and τ) when it was trained with it
    train_limit: int | None = None  # a stratified, seeded subset of the training split (tests, quick sweeps)
    weight_bits: int | None = None  # None: the profile's; else as enof-export --weight-bits (export with the same N)
    device: str = "auto"  # as enof-train --device: auto | cpu | cuda | cuda:N (the checkpoint is saved on the CPU)

    def out_path(self, target_name: str) -> Path:
        src = Path(self.checkpoint)
        return Path(self.out) if self.out else src.with_name(f"{src.stem}-{target_name}-ft.pt")

    def check(self) -> None:
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise EnofError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise EnofError(f"--lr {self.lr}: must be a finite number > 0")
        if self.calibrate < 1:
            raise EnofError(f"--calibrate must be >= 1, got {self.calibrate}: the scales come from calibration")


class ChipQuantizer(Protocol):
    """The export of a model's current weights, as floats (enof.exporter.finetune_target.ExportQuantizer)."""

    def chip_values(self, model: nn.Module) -> ChipValues: ...


# (checkpoint, profile, calibrate, data_root, weight_bits) → a ChipQuantizer; the caller above both the
# trainer and the exporter passes enof.exporter.finetune_target.ExportQuantizer.
QuantizerFactory = Callable[[Checkpoint, Profile, int, "str | None", "int | None"], ChipQuantizer]


def parameter_targets(model: nn.Module, values: ChipValues) -> dict[str, torch.Tensor]:
    """Parameter name → the value that makes the float forward (BN in eval) compute what the chip computes."""
    out: dict[str, torch.Tensor] = {}
    for module in values.modules:
        out.update(_unfold(model, module.module_path, module.weight, module.bias))
    return out


def _following_batchnorm(model: nn.Module, path: str) -> tuple[str, nn.Module] | None:
    """The BatchNorm registered right after the weight module at ``path`` in its parent (what capture folded)."""
    parent_path, _, child = path.rpartition(".")
    names = [n for n, _ in model.get_submodule(parent_path).named_children()]
    following = names.index(child) + 1
    if following < len(names):
        module = model.get_submodule(f"{parent_path}.{names[following]}")
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return f"{parent_path}.{names[following]}", module
    return None


def _unfold(model: nn.Module, path: str, w_folded: np.ndarray, b_folded: np.ndarray | None) -> dict[str, torch.Tensor]:
    """Folded (BN, average pool) target weight and bias → targets for the module's own parameters."""
    module = model.get_submodule(path)
    w = unfold_avgpool_from_conv(np.asarray(w_folded, np.float64), tuple(module.weight.shape[2:]))
    bn = _following_batchnorm(model, path)
    stats = BatchNormStats.of(bn[1]) if bn is not None else None
    weight = unfold_batchnorm_weight(w, stats) if stats is not None else w
    out = {f"{path}.weight": torch.from_numpy(np.ascontiguousarray(weight)).to(module.weight.dtype)}
    if b_folded is None:
        return out
    b = np.asarray(b_folded, np.float64)
    if bn is not None and bn[1].bias is not None:
        own = module.bias.detach().double().cpu().numpy() if module.bias is not None else np.zeros_like(b)
        out[f"{bn[0]}.bias"] = torch.from_numpy(unfold_batchnorm_beta(b, own, stats)).to(bn[1].bias.dtype)
    elif bn is None and module.bias is not None:
        out[f"{path}.bias"] = torch.from_numpy(b).to(module.bias.dtype)
    return out


class QuantizedForward(nn.Module):
    """``model`` run on the exporter's integers (straight-through gradients to its float weights).

    ``refresh()`` re-quantizes the current weights; call it after every optimizer step.
    """

    def __init__(self, model: nn.Module, quantizer: ChipQuantizer) -> None:
        super().__init__()
        self.model, self.quantizer = model, quantizer
        self.values: ChipValues | None = None
        self._targets: dict[str, torch.Tensor] = {}
        self._hook = None

    def refresh(self) -> ChipValues:
        with torch.no_grad():
            self.values = self.quantizer.chip_values(self.model)
        device = next(self.model.parameters()).device
        self._targets = {n: t.to(device) for n, t in parameter_targets(self.model, self.values).items()}
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.values.input_mode == "current":  # the chip rounds the host-in current to its input integers
            lif = self.model.get_submodule(self.values.current_module_path)
            self._hook = lif.register_forward_pre_hook(lambda _m, args: (_round_input(args[0], self.input_scale),))
        return self.values

    @property
    def input_scale(self) -> float:
        return float(self.values.input_scale)

    def forward(self, x: torch.Tensor):
        if self.values is None:
            self.refresh()
        params = dict(self.model.named_parameters())
        overrides = {n: params[n] + (t - params[n]).detach() for n, t in self._targets.items()}
        mode = self.values.input_mode
        if mode == "graded":
            x = _round_input(x, self.input_scale)
        elif mode == "spikes":
            x = _spike_input(x)
        return functional_call(self.model, overrides, (x,))


def _spike_input(x: torch.Tensor) -> torch.Tensor:
    """Event counts clipped to one spike ("spikes" input mode), straight-through."""
    return x + (spike_value(x.detach()) - x.detach())


def _round_input(x: torch.Tensor, input_scale: float) -> torch.Tensor:
    return x + (input_value(x.detach(), input_scale) - x.detach())


@dataclass
class FinetuneResult:
    model_path: Path
    float_accuracy_before: float
    float_accuracy: float
    quantized_accuracy_before: float  # the fake-quant forward (what the chip computes, up to the simulator's rounding)
    quantized_accuracy: float
    history: list[dict] = field(default_factory=list)
    checkpoint: Checkpoint | None = None


def finetune(config: FinetuneConfig, quantizer: QuantizerFactory, log=None) -> FinetuneResult:
    """Fine-tune ``config.checkpoint`` for ``config.target`` on ``config.device`` and write the fine-tuned
    checkpoint (on the CPU); ``quantizer`` builds the export it trains through
    (enof.exporter.finetune_target.ExportQuantizer)."""
    config.check()
    started = time.perf_counter()
    # float32, TF32 off and no cuDNN autotuning: a CUDA fine-tune computes what the CPU's does, to float32 sums
    execution = Execution(resolve_device(config.device), deterministic=True)
    execution.apply_backend_flags()
    profile = load_profile(config.target)
    FixedPointLimits.from_profile(profile, config.weight_bits)  # a --weight-bits the target lacks: refused now
    ckpt = load_checkpoint(config.checkpoint)
    if ckpt.mode != "snn":
        raise CheckpointError(f"{config.checkpoint}: an ANN (mode={ckpt.mode!r}) checkpoint has nothing to fine-tune for a chip")
    out_path = config.out_path(profile.name)
    check_output_file(out_path, "-o", example="model-ft.pt")
    torch.manual_seed(config.seed)
    model = execution.prepare_model(build_model_from_checkpoint(ckpt))
    model.eval()  # BN frozen on the running statistics the exporter folds; gradients still flow
    for p in model.parameters():
        p.requires_grad_(True)
    data = load_dataset(ckpt.dataset.name, config.data_root, train_augment=True, timesteps=ckpt.timesteps,
                        frame_hw=frame_hw_of(ckpt.dataset))
    data = LoadedDataset(data.spec, limit_split(data.train, config.train_limit, config.seed, "--train-limit"),
                         data.test, data.notes)
    teacher, distill = _teacher_and_distill(config, ckpt, data)
    run = _Tuning(config, execution, data.spec.temporal, ckpt.timesteps,
                  None if teacher is None else teacher.to(execution.device), distill)
    qmodel = QuantizedForward(model, quantizer(ckpt, profile, config.calibrate, config.data_root, config.weight_bits))
    generator = torch.Generator().manual_seed(config.seed)
    train_loader = DataLoader(data.train, batch_size=config.batch_size, shuffle=True, generator=generator)
    test_loader = DataLoader(data.test, batch_size=EVAL_BATCH)
    float_before = run.evaluate(model, test_loader)
    qmodel.refresh()
    quant_before = run.evaluate(qmodel, test_loader)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)
    scheduler = make_scheduler(optimizer, "cosine", config.epochs)
    history = []
    for epoch in range(config.epochs):
        loss = run.train_epoch(qmodel, train_loader, optimizer, epoch)
        scheduler.step()
        record = {"epoch": epoch + 1, "loss": loss, "test_accuracy": run.evaluate(model, test_loader),
                  "quantized_test_accuracy": run.evaluate(qmodel, test_loader)}
        history.append(record)
        if log is not None:
            log(f"finetune epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.4f}, float "
                f"{100 * record['test_accuracy']:.2f}%, fixed-point forward {100 * record['quantized_test_accuracy']:.2f}%")
    metrics = {**ckpt.metrics, "test_accuracy": history[-1]["test_accuracy"],
               "quantized_test_accuracy": history[-1]["quantized_test_accuracy"],
               "finetune_history": history, "finetune_wall_s": time.perf_counter() - started}
    tuned = Checkpoint(
        arch=ckpt.arch, arch_kwargs=ckpt.arch_kwargs, neuron=ckpt.neuron, timesteps=ckpt.timesteps, repact=ckpt.repact,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()}, dataset=ckpt.dataset,
        teacher=_teacher_for(ckpt, config.checkpoint, out_path), metrics=metrics, seed=ckpt.seed,
        train_config=ckpt.train_config, versions=ckpt.versions, mode="snn", finetuned_for=finetune_record(config, profile, ckpt),
    )
    save_checkpoint(tuned, out_path)
    return FinetuneResult(out_path, float_before, history[-1]["test_accuracy"], quant_before,
                          history[-1]["quantized_test_accuracy"], history, tuned)


def _teacher_and_distill(config: FinetuneConfig, ckpt: Checkpoint, data: LoadedDataset):
    """The frozen ANN teacher (or None) and the distillation settings the fine-tune keeps from the checkpoint."""
    train_record = {k: v for k, v in ckpt.train_config.items() if k in TrainConfig.__dataclass_fields__}
    train_config = TrainConfig(**train_record) if train_record else TrainConfig(dataset=data.spec.name, arch=ckpt.arch)
    distill = train_config.distill
    if config.laf and distill.method != "none" and ckpt.teacher is not None:
        teacher_model, _ = load_teacher(resolve_teacher_path(ckpt, config.checkpoint), train_config, data)
        return teacher_model.eval().requires_grad_(False), distill
    if distill.method != "none":
        distill = type(distill)(method="none", weight=distill.weight, tau=distill.tau)
    return None, distill


@dataclass
class _Tuning:
    """Where and on what a fine-tune computes: the device, the input layout, the teacher and its loss."""

    config: FinetuneConfig
    execution: Execution
    temporal: bool
    timesteps: int
    teacher: nn.Module | None
    distill: object

    def evaluate(self, model: nn.Module, loader: DataLoader) -> float:
        return evaluate(model, loader, self.temporal, self.timesteps, self.execution)

    def train_epoch(self, qmodel: QuantizedForward, loader: DataLoader, optimizer, epoch: int) -> float:
        """One epoch through the fixed-point forward, re-quantizing after every step; the mean loss."""
        loss_sum, seen = 0.0, 0
        for x, y in loader:
            x, y = self.execution.batch(x), y.to(self.execution.device)
            out = qmodel(to_time_major(x, self.temporal, self.timesteps))
            teacher_out = None
            if self.teacher is not None:
                with torch.no_grad():
                    teacher_out = self.teacher(x.transpose(0, 1) if self.temporal else repeat_over_time(x, 1))
            fc = self.teacher.fc if self.teacher is not None else None
            loss = enof_loss(out, y, teacher_out, fc, self.distill).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            qmodel.refresh()
            loss_sum, seen = loss_sum + float(loss.detach()) * len(y), seen + len(y)
        if not math.isfinite(loss_sum):
            raise EnofError(f"fine-tuning epoch {epoch + 1}: the loss became {loss_sum} (--lr {self.config.lr} too high?)")
        return loss_sum / seen


def _teacher_for(ckpt: Checkpoint, source: str, out_path: Path) -> dict | None:
    """The teacher reference, re-anchored at the fine-tuned file's folder (kept as it was when the teacher
    file is gone: a --no-laf fine-tune does not need it)."""
    if ckpt.teacher is None:
        return None
    try:
        return teacher_reference(resolve_teacher_path(ckpt, source), out_path)
    except CheckpointError:
        return ckpt.teacher


def finetune_record(config: FinetuneConfig, profile, ckpt: Checkpoint) -> dict:
    """The checkpoint's ``finetuned_for`` (design.md §2): the target it was tuned on and how."""
    return {"target": profile.name, "profile_sha256": profile.sha256, "epochs": config.epochs, "lr": config.lr,
            "calibrate": config.calibrate, "seed": config.seed,
            "weight_bits": config.weight_bits or int(profile.fixed_point.weight_bits.value),
            "source_sha256": file_sha256(config.checkpoint),
            "source_test_accuracy": ckpt.metrics.get("test_accuracy")}
