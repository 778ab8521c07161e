"""``ARCHITECTURES`` and ``build_model``: the one way to make an EnofNet (docs/design.md §2)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from enof.errors import EnofError
from enof.trainer.models.digits import digits_cnn
from enof.trainer.models.mnist import mnist_cnn
from enof.trainer.models.net import MODES, ActivationFactory, EnofNet, Mode
from enof.trainer.models.resnet import resnet19, resnet20, resnet20_dvs
from enof.trainer.neurons import NeuronConfig

BackboneBuilder = Callable[..., tuple[nn.Sequential, int]]


@dataclass(frozen=True)
class ArchSpec:
    """An architecture: its backbone builder, default class count and expected input (C, H, W)."""

    build_backbone: BackboneBuilder
    num_classes: int
    input_shape: tuple[int, int, int]
    description: str

    def kwarg_names(self) -> tuple[str, ...]:
        params = inspect.signature(self.build_backbone).parameters
        return ("num_classes",) + tuple(name for name in params if name != "acts")


ARCHITECTURES: dict[str, ArchSpec] = {
    "digits_cnn": ArchSpec(digits_cnn, 10, (1, 8, 8), "3-conv net for 8×8 digits"),
    "mnist_cnn": ArchSpec(mnist_cnn, 10, (1, 28, 28), "4-conv net for 28×28 MNIST (two strided convs)"),
    "resnet20": ArchSpec(resnet20, 10, (3, 32, 32), "ResNet20 (modified), CIFAR"),
    "resnet19": ArchSpec(resnet19, 10, (3, 32, 32), "ResNet19, CIFAR"),
    "resnet20_dvs": ArchSpec(resnet20_dvs, 10, (2, 48, 48), "ResNet20 for CIFAR10-DVS frames"),
}


def build_model(
    arch: str,
    mode: Mode = "snn",
    repact: bool = False,
    timesteps: int = 4,
    neuron: NeuronConfig = NeuronConfig(),
    **arch_kwargs: Any,
) -> EnofNet:
    """Build ``arch`` as a spiking (``snn``) or ReLU (``ann``) EnofNet.

    ``arch_kwargs``: ``num_classes`` and the builder's own (``in_channels``, ``width``, ...).
    """
    spec = ARCHITECTURES.get(arch)
    if spec is None:
        raise EnofError(f"unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}")
    if mode not in MODES:
        raise EnofError(f"{arch}: unknown mode {mode!r}; choose one of {MODES}")
    if timesteps < 1:
        raise EnofError(f"{arch}: timesteps must be >= 1, got {timesteps}")
    unknown = sorted(set(arch_kwargs) - set(spec.kwarg_names()))
    if unknown:
        raise EnofError(
            f"{arch}: unknown architecture argument(s) {unknown}; it takes {list(spec.kwarg_names())}"
        )
    kwargs = dict(arch_kwargs)
    num_classes = int(kwargs.pop("num_classes", spec.num_classes))
    acts = ActivationFactory(mode=mode, repact=repact, timesteps=timesteps, neuron=neuron)
    backbone, feature_channels = spec.build_backbone(acts, **kwargs)
    return EnofNet(
        backbone,
        feature_channels,
        num_classes,
        arch=arch,
        mode=mode,
        repact=repact,
        timesteps=timesteps,
        neuron=neuron,
    )
