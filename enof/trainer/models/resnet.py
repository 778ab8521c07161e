"""Spiking ResNets of the EnOF group code (shared/reference/enof-method.md, "Architectures").

Backbones are flat ``nn.Sequential``: stem (conv, BN, act)…, then one :class:`BasicBlock`
per entry, so module paths read ``backbone.<i>.conv1``. The last block's ``act2`` (after the
last residual sum) is the RepAct place.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from enof.trainer.models.blocks import BasicBlock, conv3x3
from enof.trainer.models.net import ActivationFactory


def _stem(acts: ActivationFactory, in_channels: int, widths: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    previous = in_channels
    for width in widths:
        layers += [conv3x3(previous, width), nn.BatchNorm2d(width), acts()]
        previous = width
    return layers


def _stages(
    acts: ActivationFactory,
    in_channels: int,
    blocks_per_stage: Sequence[int],
    widths: Sequence[int],
    strides: Sequence[int],
) -> list[nn.Module]:
    total = sum(blocks_per_stage)
    blocks: list[nn.Module] = []
    previous = in_channels
    for count, width, stride in zip(blocks_per_stage, widths, strides):
        for index in range(count):
            is_last = len(blocks) == total - 1
            blocks.append(
                BasicBlock(
                    previous, width, stride if index == 0 else 1, acts(), acts(last=is_last)
                )
            )
            previous = width
    return blocks


def resnet20(acts: ActivationFactory, *, in_channels: int = 3) -> tuple[nn.Sequential, int]:
    """"resnet20_cifar_modified": stem 3×[conv3×3→64, BN, act], AvgPool(2), BasicBlocks
    [2, 2, 2, 2] of widths 64/128/256/512, strides 1/2/2/2. At 32×32: maps 16/8/4/2."""
    widths = (64, 128, 256, 512)
    layers = _stem(acts, in_channels, (64, 64, 64))
    layers.append(nn.AvgPool2d(2))
    layers += _stages(acts, 64, (2, 2, 2, 2), widths, (1, 2, 2, 2))
    return nn.Sequential(*layers), widths[-1]


def resnet20_dvs(acts: ActivationFactory, *, in_channels: int = 2) -> tuple[nn.Sequential, int]:
    """ResNet20 for CIFAR10-DVS frames (2, 48, 48): the same layers as :func:`resnet20`
    with 2 input channels (ON/OFF polarity); no other stem difference. Maps 24/12/6/3."""
    return resnet20(acts, in_channels=in_channels)


def resnet19(acts: ActivationFactory, *, in_channels: int = 3) -> tuple[nn.Sequential, int]:
    """Stem conv3×3→128, BN, act; BasicBlocks [3, 3, 2] of widths 128/256/512, strides 1/2/2;
    one FC (the group's variant, not TET's 64-channel stem with a hidden FC)."""
    widths = (128, 256, 512)
    layers = _stem(acts, in_channels, (128,))
    layers += _stages(acts, 128, (3, 3, 2), widths, (1, 2, 2))
    return nn.Sequential(*layers), widths[-1]
