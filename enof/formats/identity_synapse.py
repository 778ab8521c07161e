"""The one conv that may carry a weight exponent: a 1×1 identity (docs/design.md §5–6).

Lava's CPU Conv models ignore ``weight_exp`` (shared/reference/lava.md), so a conv synapse keeps
``weight_exp = 0``, except a 1×1, stride-1, unpadded conv whose weight is diagonal (C_out == C_in):
it connects each neuron to the same neuron of the target, is built as a Lava ``Sparse`` diagonal,
and Sparse applies ``weight_exp``. The quantizer (exporter) and the chip program (runtime) both
decide with this function, so they cannot disagree about which synapses qualify; the runtime's
backends read the decision from ``enof.runtime.program.Synapse.runs_as`` ("diagonal").
"""

from __future__ import annotations

import numpy as np


def is_identity_conv(weight: np.ndarray, stride: tuple[int, ...], padding: tuple[int, ...]) -> bool:
    """True for a (C, C, 1, 1) weight that is zero off the diagonal, with stride (1, 1) and padding (0, 0)."""
    w = np.asarray(weight)
    if w.ndim != 4 or w.shape[0] != w.shape[1] or w.shape[2:] != (1, 1):
        return False
    if tuple(int(s) for s in stride) != (1, 1) or tuple(int(p) for p in padding) != (0, 0):
        return False
    square = w[:, :, 0, 0]
    return not np.any(square - np.diag(np.diagonal(square)))


def identity_diagonal(weight: np.ndarray) -> np.ndarray:
    """The per-channel diagonal (C,) of a (C, C, 1, 1) identity-conv weight."""
    return np.diagonal(np.asarray(weight)[:, :, 0, 0]).copy()
