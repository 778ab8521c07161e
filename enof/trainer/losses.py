"""EnOF training losses: cross-entropy, L_AF (output-feature alignment) and vanilla KD.

Formulas (shared/reference/enof-method.md, group code):

* ``L_AF = τ² · KL(softmax(fc_ann(f_ann)/τ) ‖ softmax(fc_ann(f_snn)/τ))``, summed over classes,
  averaged over the batch, τ = 20. ``fc_ann`` is the frozen teacher classifier: its parameters
  get no gradient, but the gradient flows through it into the SNN feature.
* ``L_KD = τ² · KL(softmax(z_teacher/τ) ‖ softmax(z_snn/τ))`` on the SNN's own logits, τ = 3.
* ``L = CE(logits_snn, y) + λ · L_distill``, λ = 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from enof.trainer.execution import full_precision
from enof.trainer.models.net import ModelOutput

Distill = Literal["none", "laf", "kd"]
DISTILL_METHODS: tuple[str, ...] = ("none", "laf", "kd")
DEFAULT_TAU: dict[str, float] = {"laf": 20.0, "kd": 3.0}


def ce_time_averaged(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on time-averaged logits: (B, K) as they are, (T, B, K) averaged over T."""
    if logits.dim() == 3:
        logits = logits.mean(dim=0)
    return F.cross_entropy(full_precision(logits), labels)


def distillation_kl(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float
) -> torch.Tensor:
    """``τ² · KL(softmax(teacher/τ) ‖ softmax(student/τ))``, batch mean; teacher detached."""
    if tau <= 0:
        raise ValueError(f"distillation temperature tau must be > 0, got {tau}")
    # float32 softmaxes under autocast: at τ = 20 the distributions are flat, and bf16 would
    # round away most of the KL's signal (enof/trainer/execution.py).
    log_p_student = F.log_softmax(full_precision(student_logits) / tau, dim=1)
    log_p_teacher = F.log_softmax(full_precision(teacher_logits.detach()) / tau, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * tau**2


def laf_loss(
    snn_feature: torch.Tensor,
    ann_feature: torch.Tensor,
    teacher_fc: nn.Linear,
    tau: float = 20.0,
) -> torch.Tensor:
    """L_AF: both features through the frozen teacher classifier, then :func:`distillation_kl`.

    The teacher's weight and bias are detached, so they never receive a gradient even if
    ``requires_grad`` is on; the SNN feature does, through them.
    """
    snn_feature, ann_feature = full_precision(snn_feature), full_precision(ann_feature.detach())
    weight = teacher_fc.weight.detach().to(snn_feature.dtype)
    bias = None if teacher_fc.bias is None else teacher_fc.bias.detach().to(snn_feature.dtype)
    with torch.autocast(snn_feature.device.type, enabled=False):  # the frozen classifier in full precision
        z_student = F.linear(snn_feature, weight, bias)
        z_teacher = F.linear(ann_feature.to(snn_feature.dtype), weight, bias)
    return distillation_kl(z_student, z_teacher, tau)


def kd_loss(snn_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float = 3.0) -> torch.Tensor:
    """Vanilla KD on the SNN's own logits (the ablation baseline)."""
    return distillation_kl(snn_logits, teacher_logits, tau)


@dataclass(frozen=True)
class DistillConfig:
    """Which distillation term to add to CE, its weight λ and temperature τ (None: default)."""

    method: Distill = "laf"
    weight: float = 0.1
    tau: float | None = None

    def __post_init__(self) -> None:
        if self.method not in DISTILL_METHODS:
            raise ValueError(
                f"DistillConfig.method must be one of {DISTILL_METHODS}, got {self.method!r}"
            )
        if self.weight < 0:
            raise ValueError(f"DistillConfig.weight must be >= 0, got {self.weight}")
        if self.tau is not None and self.tau <= 0:
            raise ValueError(f"DistillConfig.tau must be > 0, got {self.tau}")

    @property
    def effective_tau(self) -> float:
        if self.tau is not None:
            return self.tau
        return DEFAULT_TAU.get(self.method, 1.0)


class LossParts(NamedTuple):
    """``total = ce + weight · distill``; ``distill`` is 0 for method ``none``."""

    total: torch.Tensor
    ce: torch.Tensor
    distill: torch.Tensor


def enof_loss(
    student: ModelOutput,
    labels: torch.Tensor,
    teacher: ModelOutput | None = None,
    teacher_fc: nn.Linear | None = None,
    config: DistillConfig = DistillConfig(),
) -> LossParts:
    """CE on the student's logits plus ``λ`` times L_AF or KD (``config.method``).

    ``laf`` needs the teacher's output (its ``feature``) and its classifier ``teacher_fc``;
    ``kd`` needs the teacher's output (its ``logits``).
    """
    ce = ce_time_averaged(student.logits, labels)
    if config.method == "none":
        distill = torch.zeros((), dtype=ce.dtype, device=ce.device)
    elif teacher is None:
        raise ValueError(f"distillation method {config.method!r} needs the teacher's output")
    elif config.method == "laf":
        if teacher_fc is None:
            raise ValueError("distillation method 'laf' needs the teacher's classifier teacher_fc")
        distill = laf_loss(student.feature, teacher.feature, teacher_fc, config.effective_tau)
    else:
        distill = kd_loss(student.logits, teacher.logits, config.effective_tau)
    return LossParts(ce + config.weight * distill, ce, distill)
