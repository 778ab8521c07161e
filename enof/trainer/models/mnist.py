"""``mnist_cnn``: a 4-conv SNN for 28×28 MNIST, in the spirit of NxTF's 4-layer MNIST CNN.

conv3×3 1→w + BN + act (28×28); conv3×3/2 w→2w + BN + act (14×14); conv3×3/2 2w→4w + BN + act
(7×7); conv3×3 4w→4w + BN + act (7×7, the RepAct place); pool; fc 4w→10. With the default
w = 16 the chip part holds 12,544 + 6,272 + 3,136 neurons: many cores, and two strided layers.
"""

from __future__ import annotations

from torch import nn

from enof.trainer.models.blocks import conv3x3
from enof.trainer.models.net import ActivationFactory


def mnist_cnn(acts: ActivationFactory, *, in_channels: int = 1, width: int = 16) -> tuple[nn.Sequential, int]:
    """Backbone and its feature channel count."""
    if width < 1:
        raise ValueError(f"mnist_cnn width must be >= 1, got {width}")
    layers: list[nn.Module] = []
    channels = [in_channels, width, 2 * width, 4 * width, 4 * width]
    strides = [1, 2, 2, 1]
    for index, stride in enumerate(strides):
        layers += [conv3x3(channels[index], channels[index + 1], stride=stride), nn.BatchNorm2d(channels[index + 1]),
                   acts(last=index == len(strides) - 1)]
    return nn.Sequential(*layers), channels[-1]
