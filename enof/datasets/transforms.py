"""Small transforms no kept library provides: Cutout for images, flip/roll for event frames."""

from __future__ import annotations

import torch


class Cutout:
    """Zero one random `size_px`×`size_px` square (clipped at the border) of a (C, H, W) tensor.

    DeVries & Taylor 2017, as in the EnOF group's CIFAR recipe (16 px on 32×32 images).
    Uses torch's global RNG, so it follows the training seed.
    """

    def __init__(self, size_px: int = 16) -> None:
        if size_px <= 0:
            raise ValueError(f"Cutout size must be positive, got {size_px}")
        self.size_px = size_px

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        cy = int(torch.randint(height, (1,)))
        cx = int(torch.randint(width, (1,)))
        half = self.size_px // 2
        y0, y1 = max(cy - half, 0), min(cy + half, height)
        x0, x1 = max(cx - half, 0), min(cx + half, width)
        out = image.clone()
        out[..., y0:y1, x0:x1] = 0.0
        return out

    def __repr__(self) -> str:
        return f"Cutout(size_px={self.size_px})"


class FlipRollFrames:
    """Random horizontal flip and roll by up to ±`max_roll_px` in x and y, the same for every
    frame of a (T, C, H, W) sample (the CIFAR10-DVS recipe: flip + roll ±5 px)."""

    def __init__(self, max_roll_px: int = 5) -> None:
        self.max_roll_px = max_roll_px

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if bool(torch.rand(()) < 0.5):
            frames = frames.flip(-1)
        shift = torch.randint(-self.max_roll_px, self.max_roll_px + 1, (2,))
        return torch.roll(frames, shifts=(int(shift[0]), int(shift[1])), dims=(-2, -1))

    def __repr__(self) -> str:
        return f"FlipRollFrames(max_roll_px={self.max_roll_px})"
