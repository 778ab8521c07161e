"""``ARCHITECTURES`` and ``build_model``: the one way to make an EnofNet (docs/design.md §2).

A user's own architecture is one ``register_architecture`` call in a module of theirs, made known to the
commands by ``--plugin MODULE`` or by an entry point in the ``enof.architectures`` group of an installed
package (README "Your own architecture"); ``load_plugins`` imports both.
"""

from __future__ import annotations

import importlib
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


ENTRY_POINT_GROUP = "enof.architectures"


def register_architecture(
    name: str, build_backbone: BackboneBuilder, num_classes: int, input_shape: tuple[int, int, int], description: str = ""
) -> ArchSpec:
    """Make ``name`` an architecture of ``build_model`` (and so of enof-train and enof-export).

    ``build_backbone(acts, **kwargs) -> (nn.Sequential, feature_channels)`` builds the backbone from
    ``acts`` (an ActivationFactory: ``acts()`` is the LIF or ReLU of the run) and the layers the
    exporter reads (docs/design.md §3); the EnofNet adds the pool and classifier. Registering the same
    builder again is a no-op (a plugin imported twice); another builder under a taken name is refused.
    """
    spec = ArchSpec(build_backbone, int(num_classes), tuple(int(v) for v in input_shape), description or name)
    known = ARCHITECTURES.get(name)
    if known is not None and known.build_backbone is not build_backbone:
        raise EnofError(f"architecture {name!r} is already registered (by {known.build_backbone.__module__}); pick another name")
    if "acts" not in inspect.signature(build_backbone).parameters:
        raise EnofError(f"architecture {name!r}: its backbone builder must take `acts` (an ActivationFactory)")
    ARCHITECTURES[name] = spec
    return spec


def load_plugins(modules: list[str] | tuple[str, ...] = ()) -> None:
    """Import the installed ``enof.architectures`` entry points and then ``modules`` (``--plugin``); an
    entry point naming a callable is called. A module that cannot be imported is one EnofError line."""
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        loaded = _imported(point.value, lambda p=point: p.load(), f"entry point {point.name} ({ENTRY_POINT_GROUP})")
        if callable(loaded):
            loaded()
    for module in modules:
        _imported(module, lambda m=module: importlib.import_module(m), "--plugin")


def _imported(what: str, load: Callable[[], Any], where: str) -> Any:
    try:
        return load()
    except ImportError as exc:
        raise EnofError(f"{where} {what}: cannot be imported ({exc}); is it on PYTHONPATH or installed?") from None


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
        load_plugins()  # an installed package's entry point may define it
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
