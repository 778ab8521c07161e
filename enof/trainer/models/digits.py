"""``digits_cnn``: the small net for scikit-learn's 8×8 digits (docs/design.md §3).

conv3×3 1→w + BN + act (8×8); conv3×3/2 w→2w + BN + act (4×4); conv3×3 2w→2w + BN + act (4×4,
the RepAct place); pool; fc 2w→10. The design's net is ``width = 32``; ``width`` is exposed
because a narrow net is where the EnOF techniques are expected to show on digits.
"""

from __future__ import annotations

from torch import nn

from enof.trainer.models.blocks import conv3x3
from enof.trainer.models.net import ActivationFactory


def digits_cnn(
    acts: ActivationFactory, *, in_channels: int = 1, width: int = 32
) -> tuple[nn.Sequential, int]:
    """Backbone and its feature channel count."""
    if width < 1:
        raise ValueError(f"digits_cnn width must be >= 1, got {width}")
    wide = 2 * width
    backbone = nn.Sequential(
        conv3x3(in_channels, width),
        nn.BatchNorm2d(width),
        acts(),
        conv3x3(width, wide, stride=2),
        nn.BatchNorm2d(wide),
        acts(),
        conv3x3(wide, wide),
        nn.BatchNorm2d(wide),
        acts(last=True),
    )
    return backbone, wide
