"""`TrainConfig`: everything one training run depends on, the recipes, and the checks made before
any work starts (a bad flag is a one-line error naming it and what would work)."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from enof.errors import EnofError
from enof.formats.outputs import check_output_file
from enof.datasets import dataset_spec
from enof.trainer.losses import DistillConfig
from enof.trainer.neurons import NeuronConfig

SCHEDULES = ("cosine", "step", "none")
OPTIMIZERS = ("sgd", "adam")
# Where the SNN's weights start: a fresh initialization, or the trained teacher's weights (the same
# architecture, so every conv, BN and classifier tensor has its counterpart).
INITS = ("random", "teacher")

# `--recipe quick` (the default): per data set settings one can afford. digits' were chosen so that
# `enof-train --dataset digits --arch digits_cnn -T 2` reaches ≥ 97% test accuracy in about a minute
# on 2 CPU cores. CIFAR's follow the EnOF group's recipe except for the epochs (100, the older
# scripts' count). `threads` (torch intra-op threads, set by the CLI): digits' net is too small for
# threads to pay (2 threads: same wall time, twice the CPU, and many times slower on a loaded
# machine); 0 keeps torch's default (all cores) for the CIFAR networks. `workers`: DataLoader worker
# processes; digits sits in memory as tensors, where workers only add inter-process copies.
QUICK: dict[str, dict] = {
    "digits": dict(epochs=30, teacher_epochs=15, lr=0.05, batch_size=64, optimizer="sgd", weight_decay=5e-4,
                   threads=1, workers=0),
    # mnist5k: 4,000 training images. From a random start the SNN ends 0.6 points under its teacher
    # (97.12 ± 0.08 % over 5 seeds, width 32); started from the teacher's weights, with the teacher trained twice
    # as long, it comes within about 0.1 points of the teacher (97.84 ± 0.27 % and 97.94 ± 0.09 % in two sets
    # of 5 seeds, docs/mnist5k.md). The EnOF paper does not say how its SNNs start.
    "mnist5k": dict(epochs=20, teacher_epochs=20, lr=0.1, batch_size=64, optimizer="sgd", weight_decay=1e-4,
                    init="teacher", threads=0, workers=0),
    "mnist": dict(epochs=20, teacher_epochs=10, lr=0.05, batch_size=128, optimizer="sgd", weight_decay=5e-4,
                  threads=0, workers=0),
    "cifar10": dict(epochs=100, teacher_epochs=100, lr=0.1, batch_size=128, optimizer="sgd", weight_decay=1e-4,
                    threads=0),
    "cifar100": dict(epochs=100, teacher_epochs=100, lr=0.1, batch_size=128, optimizer="sgd", weight_decay=1e-4,
                     threads=0),
    "cifar10dvs": dict(epochs=100, teacher_epochs=100, lr=0.1, batch_size=32, optimizer="sgd", weight_decay=1e-4,
                       threads=0),
    # The event data sets' schedule until one is measured on real recordings: CIFAR10-DVS's optimizer
    # and batch, a third of its epochs (N-MNIST and DVS Gesture are smaller data sets).
    "nmnist": dict(epochs=30, teacher_epochs=15, lr=0.1, batch_size=32, optimizer="sgd", weight_decay=1e-4, threads=0),
    "dvsgesture": dict(epochs=30, teacher_epochs=15, lr=0.1, batch_size=32, optimizer="sgd", weight_decay=1e-4,
                       threads=0),
}
# `--recipe paper`: the EnOF group's CIFAR recipe (shared/reference/enof-method.md and scale.md, from
# MPBN's main_train.py): 400 epochs, SGD 0.1 momentum 0.9, weight decay 1e-4 on conv/linear weights
# only, cosine to 0, batch 128, RandomCrop(32, 4) + flip + AutoAugment + Cutout(16) (the CIFAR
# loader's training transform), λ = 0.1, τ = 20 (cosine, λ and τ are every recipe's defaults).
# The teacher is trained with the same recipe.
_PAPER_CIFAR = dict(epochs=400, teacher_epochs=400, lr=0.1, batch_size=128, optimizer="sgd", weight_decay=1e-4,
                    threads=0)
RECIPES: dict[str, dict[str, dict]] = {
    "quick": QUICK,
    "paper": {"cifar10": _PAPER_CIFAR, "cifar100": _PAPER_CIFAR},
}

# How a run computes, not what: may differ between a run and its --resume.
EXECUTION_FIELDS = ("device", "amp", "channels_last", "compile", "deterministic", "workers", "threads",
                    "log_every", "stop_after_epochs", "resume")


@dataclass
class TrainConfig:
    """Everything one training run depends on; `None` fields take the recipe's defaults."""

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
    batch_size: int | None = None  # per process; under torchrun the global batch is world_size × this
    seed: int = 0
    laf: bool = True
    repact: bool = True
    kd: bool = False
    lam: float = 0.1
    tau: float | None = None  # None: 20 for L_AF, 3 for KD
    out: str = "model.pt"
    resume: bool = False
    teacher: str | None = None
    init: str | None = None  # INITS; None: the recipe's (random; mnist5k: teacher)
    neuron: dict = field(default_factory=lambda: NeuronConfig().to_dict())
    threads: int | None = None  # torch threads the caller should use (0: torch's default)
    recipe: str = "quick"
    frame_size: list[int] | None = None  # event data sets: (H, W) the recordings are binned to; None: the data set's
    train_limit: int | None = None  # a stratified, seeded subset of the training split
    test_limit: int | None = None
    sync_bn: bool = False
    # execution (EXECUTION_FIELDS): see enof/trainer/execution.py
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool | None = None
    compile: bool = False
    deterministic: bool = False
    workers: int | None = None  # None: 0 for digits, else up to 8 per process
    log_every: int = 50  # plain progress line every N steps (and every 30 s) when stderr is not a terminal
    stop_after_epochs: int | None = None  # end this invocation after N finished epochs, resumable

    def resolved(self) -> "TrainConfig":
        """A copy with the recipe's defaults filled in and every choice checked."""
        dataset_spec(self.dataset, self.frame_size)  # unknown names and a frame size for images are DataErrors
        if self.recipe not in RECIPES:
            raise EnofError(f"--recipe {self.recipe}: choose one of {', '.join(RECIPES)}")
        recipe = RECIPES[self.recipe]
        if self.dataset not in recipe:
            raise EnofError(f"--recipe {self.recipe}: the EnOF group's recipe is for {', '.join(recipe)}; "
                            f"{self.dataset} has --recipe quick")
        defaults = {**QUICK[self.dataset], **recipe[self.dataset]}
        filled = replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})
        if filled.workers is None:
            filled = replace(filled, workers=default_workers())
        if filled.init is None:
            filled = replace(filled, init="random")
        _check(filled)
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

    @property
    def metrics_path(self) -> Path:
        """`metrics.jsonl` beside `model.pt` (`<stem>.metrics.jsonl` for another file name)."""
        out = Path(self.out)
        return out.with_name("metrics.jsonl" if out.stem == "model" else f"{out.stem}.metrics.jsonl")

    def record(self) -> dict:
        """The settings a checkpoint keeps (`train_config`), without `resume`."""
        record = asdict(self)
        record.pop("resume")
        return record

    def what_record(self) -> dict:
        """The settings a --resume must repeat: the record without the execution fields."""
        return {k: v for k, v in self.record().items() if k not in EXECUTION_FIELDS}


def default_workers() -> int:
    """DataLoader workers per process: the machine's cores, at most 8 (AutoAugment and Cutout run
    in the workers; more than 8 per GPU rarely pays for CIFAR-sized images)."""
    return max(1, min(8, os.cpu_count() or 1))


def _check(config: TrainConfig) -> None:
    if config.laf and config.kd:
        raise EnofError("--laf and --kd are alternatives: choose one distillation (or neither)")
    if config.schedule not in SCHEDULES:
        raise EnofError(f"unknown schedule '{config.schedule}'; choose one of {', '.join(SCHEDULES)}")
    if config.init not in INITS:
        raise EnofError(f"--init {config.init}: choose one of {', '.join(INITS)}")
    if config.optimizer not in OPTIMIZERS:
        raise EnofError(f"unknown optimizer '{config.optimizer}'; choose one of {', '.join(OPTIMIZERS)}")
    for name in ("timesteps", "epochs", "batch_size", "log_every"):
        if getattr(config, name) < 1:
            raise EnofError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")
    if config.teacher_epochs < 0:
        raise EnofError(f"--teacher-epochs must be >= 0, got {config.teacher_epochs}")
    for name, low in (("lr", 0.0), ("lam", None), ("weight_decay", None), ("tau", 0.0)):
        value = getattr(config, name)
        if value is None:
            continue
        flag = f"--{name.replace('_', '-')}"
        if not math.isfinite(value):
            raise EnofError(f"{flag} {value}: must be a finite number")
        if (low is not None and value <= low) or value < 0:
            raise EnofError(f"{flag} {value}: must be {'> 0' if low is not None else '>= 0'}")
    for name in ("train_limit", "test_limit", "stop_after_epochs"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise EnofError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if config.workers < 0:
        raise EnofError(f"--workers must be >= 0, got {config.workers}")
    check_output_file(config.out, "-o", example="model.pt")
