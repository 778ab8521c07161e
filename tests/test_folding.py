"""enof.folding: BatchNorm and average-pool folding and the inverses the fine-tuner uses, each the other's
inverse, on numbers that only the right rule gives (per-channel γ, β, μ, σ² all different; a 3×3 kernel
pooled by 2, so a swapped axis or a missing k² shows)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from enof.folding import (
    BatchNormStats, fold_avgpool_into_conv, fold_batchnorm, unfold_avgpool_from_conv, unfold_batchnorm_beta,
    unfold_batchnorm_weight,
)


def _bn(channels: int = 3, affine: bool = True) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, affine=affine, eps=1e-3)
    bn.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    bn.running_var.copy_(torch.tensor([4.0, 0.25, 1.0]))
    if affine:
        bn.weight.data.copy_(torch.tensor([2.0, -0.5, 1.5]))
        bn.bias.data.copy_(torch.tensor([0.1, 0.2, -0.3]))
    return bn


def test_batchnorm_fold_by_hand_on_channel_one():
    """Channel 1: γ/σ = −0.5 / sqrt(0.25 + 0.001); b_f = (b − μ)·γ/σ + β."""
    stats = BatchNormStats.of(_bn())
    w = np.arange(1, 3 * 2 * 3 * 3 + 1, dtype=np.float64).reshape(3, 2, 3, 3)
    b = np.array([1.0, 3.0, -2.0])
    wf, bf = fold_batchnorm(w, b, stats)
    factor = -0.5 / np.sqrt(0.251)
    np.testing.assert_allclose(wf[1], w[1] * factor, rtol=1e-15)
    assert abs(bf[1] - ((3.0 - (-1.0)) * factor + 0.2)) < 1e-7  # β = 0.2 held in float32
    np.testing.assert_allclose(wf[0], w[0] * 2.0 / np.sqrt(4.001), rtol=1e-15)


def test_batchnorm_unfold_inverts_the_fold():
    """W and β back from the folded values to 1e-12 (float64 division after multiplication)."""
    bn = _bn()
    stats = BatchNormStats.of(bn)
    rng = np.random.default_rng(3)
    w, b = rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    wf, bf = fold_batchnorm(w, b, stats)
    np.testing.assert_allclose(unfold_batchnorm_weight(wf, stats), w, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(unfold_batchnorm_beta(bf, b, stats), stats.beta, rtol=1e-12, atol=1e-12)


def test_batchnorm_without_affine_parameters_is_gamma_one_beta_zero():
    stats = BatchNormStats.of(_bn(affine=False))
    np.testing.assert_array_equal(stats.gamma, np.ones(3))
    np.testing.assert_array_equal(stats.beta, np.zeros(3))
    np.testing.assert_allclose(stats.factor, 1.0 / np.sqrt(np.array([4.001, 0.251, 1.001])), rtol=1e-15)


def test_avgpool_fold_matches_torch_and_unfolds_back():
    """AvgPool2d(2) then conv 3×3 (stride 1, padding 1) == the folded 6×6 conv at stride 2, padding 2 (float64
    torch, 1e-12); the inverse takes one tap per 2×2 block times 4 and gives the 3×3 kernel back exactly."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 2, 3, 3))
    folded, stride, padding = fold_avgpool_into_conv(w, (1, 1), (1, 1), 2)
    assert folded.shape == (4, 2, 6, 6) and stride == (2, 2) and padding == (2, 2)
    x = torch.from_numpy(rng.normal(size=(1, 2, 8, 8)))
    pooled = nn.functional.conv2d(nn.functional.avg_pool2d(x, 2), torch.from_numpy(w), padding=1)
    direct = nn.functional.conv2d(x, torch.from_numpy(folded), stride=2, padding=2)
    np.testing.assert_allclose(direct.numpy(), pooled.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(unfold_avgpool_from_conv(folded, (3, 3)), w)
    assert unfold_avgpool_from_conv(w, (3, 3)) is w  # nothing folded in: unchanged
