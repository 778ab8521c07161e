"""ChipProgram validation: which conv synapses may carry a weight exponent (docs/design.md §6)."""

import numpy as np
import pytest

from enof.runtime.program import Synapse


def _conv(weight_int, weight_exp, **kw):
    return Synapse("s", "conv", "a", "b", weight_int.astype(np.float32), weight_int.astype(np.int32), weight_exp, **kw)


def test_identity_conv_accepts_a_weight_exponent():
    diag = np.zeros((4, 4, 1, 1), np.int32)
    diag[np.arange(4), np.arange(4), 0, 0] = [100, 100, 90, 7]  # a scaled identity; per-channel values allowed
    syn = _conv(diag, 3)
    assert syn.is_identity and syn.weight_exp == 3 and list(syn.diagonal_int) == [100, 100, 90, 7]
    assert _conv(diag, -2).is_identity


@pytest.mark.parametrize(
    "weight, options",
    [
        (np.ones((4, 4, 3, 3)), {"padding": (1, 1)}),  # a 3×3 conv
        (np.ones((4, 4, 1, 1)), {}),  # 1×1 but not diagonal
        (np.eye(4).reshape(4, 4, 1, 1), {"stride": (2, 2)}),  # diagonal but strided
        (np.eye(4).reshape(4, 4, 1, 1), {"padding": (1, 1)}),  # diagonal but padded
        (np.eye(4, 3).reshape(4, 3, 1, 1), {}),  # C_out != C_in
    ],
)
def test_any_other_conv_with_a_weight_exponent_is_refused(weight, options):
    with pytest.raises(ValueError, match="conv weight_exp must be 0, got 2"):
        _conv(weight, 2, **options)
    assert not _conv(weight, 0, **options).is_identity  # weight_exp 0: accepted, as any conv
