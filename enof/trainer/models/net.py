"""EnofNet: backbone on time-folded tensors, average pool, mean over time, classifier.

See docs/design.md §3. ``feature = mean_t avgpool(backbone(x_t))`` and ``logits = fc(feature)``;
since ``fc`` is linear this equals the time-averaged logits the EnOF recipe trains on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from enof.trainer.neurons import LIF, NeuronConfig, RepActReLU

Mode = Literal["snn", "ann"]
MODES: tuple[str, ...] = ("snn", "ann")


class ModelOutput(NamedTuple):
    """What every EnofNet returns: ``logits`` (B, K) and the output ``feature`` (B, F)."""

    logits: torch.Tensor
    feature: torch.Tensor


def repeat_over_time(x: torch.Tensor, timesteps: int) -> torch.Tensor:
    """Direct encoding: a static batch (B, C, H, W) repeated to (T, B, C, H, W) (a view)."""
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    return x.unsqueeze(0).expand(timesteps, *x.shape)


@dataclass(frozen=True)
class ActivationFactory:
    """Makes the activation at each place of a network.

    ``snn``: :class:`LIF`; ``ann``: ``nn.ReLU``. With ``repact`` the network's last activation
    (``last=True``) is a :class:`RepActReLU` in both modes.
    """

    mode: Mode
    repact: bool
    timesteps: int
    neuron: NeuronConfig

    def __call__(self, last: bool = False) -> nn.Module:
        if last and self.repact:
            return RepActReLU()
        if self.mode == "ann":
            return nn.ReLU()
        return LIF(self.timesteps, self.neuron)


class EnofNet(nn.Module):
    """A backbone (nn.Sequential), ``pool`` (AdaptiveAvgPool2d(1)) and ``fc`` (nn.Linear)."""

    def __init__(
        self,
        backbone: nn.Sequential,
        feature_channels: int,
        num_classes: int,
        *,
        arch: str,
        mode: Mode,
        repact: bool,
        timesteps: int,
        neuron: NeuronConfig,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(feature_channels, num_classes)
        self.arch = arch
        self.mode = mode
        self.repact = repact
        self.timesteps = timesteps
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> ModelOutput:
        if x.dim() != 5:
            raise ValueError(
                f"{self.arch}: expected input (T, B, C, H, W), got shape {tuple(x.shape)}; "
                "repeat static images with enof.trainer.models.repeat_over_time"
            )
        steps, batch = x.shape[0], x.shape[1]
        if self.mode == "snn" and steps != self.timesteps:
            raise ValueError(
                f"{self.arch}: built for T={self.timesteps} timesteps, got input with T={steps}"
            )
        maps = self.backbone(x.reshape(steps * batch, *x.shape[2:]))
        per_step = self.pool(maps).flatten(1).reshape(steps, batch, -1)
        feature = per_step.mean(dim=0)
        return ModelOutput(self.fc(feature), feature)
