"""The classic spiking residual block (not SEW): activation after the residual sum."""

from __future__ import annotations

import torch
from torch import nn


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def downsample_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """``AvgPool2d(stride)`` + conv 1×1 + BN (group code); an empty Sequential for identity."""
    if stride == 1 and in_channels == out_channels:
        return nn.Sequential()
    return nn.Sequential(
        nn.AvgPool2d(stride),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """``act2(bn2(conv2(act1(bn1(conv1(x))))) + shortcut(x))`` (docs/design.md §3)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        act1: nn.Module,
        act2: nn.Module,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = act1
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = downsample_shortcut(in_channels, out_channels, stride)
        self.act2 = act2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))
