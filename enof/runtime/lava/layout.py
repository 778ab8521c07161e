"""Array layouts: the ChipProgram is in torch layout ((C, H, W) or (N,)); Lava's Conv works in (X=W, Y=H, C). Pure numpy."""

from __future__ import annotations

import numpy as np


def lava_shape(torch_shape: tuple[int, ...]) -> tuple[int, ...]:
    """(C, H, W) -> (W, H, C); a 1-D shape stays as it is."""
    return tuple(reversed(torch_shape)) if len(torch_shape) == 3 else tuple(torch_shape)


def to_lava_layout(array: np.ndarray, torch_shape: tuple[int, ...]) -> np.ndarray:
    """Reverse the trailing (C, H, W) axes of ``array`` into Lava's (W, H, C); 1-D shapes unchanged.

    The reversal is its own inverse: it also maps Lava-layout arrays back to torch layout.
    """
    if len(torch_shape) != 3:
        return array
    lead = array.ndim - 3
    return np.ascontiguousarray(array.transpose(*range(lead), lead + 2, lead + 1, lead))


def conv_weight_to_lava(weight_torch: np.ndarray) -> np.ndarray:
    """torch Conv2d weight (C_out, C_in, kH, kW), a cross-correlation, -> Lava Conv weight (C_out, kW, kH, C_in).

    Lava's Conv is a true convolution (scipy convolve2d flips the kernel), so the kernel is flipped here.
    """
    return np.ascontiguousarray(weight_torch[:, :, ::-1, ::-1].transpose(0, 3, 2, 1))


def dense_weight_to_lava(
    weight: np.ndarray, target_shape: tuple[int, ...], source_shape: tuple[int, ...]
) -> np.ndarray:
    """Dense weight (N_out, N_in) indexed in torch (C, H, W) flattening -> indexed in Lava's flattening.

    Lava flattens a (W, H, C) port in C order, so rows and columns are permuted accordingly.
    """
    full = weight.reshape(*target_shape, *source_shape)
    axes_t = _lava_axes(target_shape, offset=0)
    axes_s = _lava_axes(source_shape, offset=len(target_shape))
    return np.ascontiguousarray(full.transpose(*axes_t, *axes_s).reshape(weight.shape))


def _lava_axes(torch_shape: tuple[int, ...], offset: int) -> list[int]:
    axes = [offset + a for a in range(len(torch_shape))]
    return axes[::-1] if len(torch_shape) == 3 else axes
