"""BatchNorm and average-pool folding, and their inverses (below both the exporter and the trainer).

The exporter folds a BatchNorm that follows a weight module, and an AvgPool2d that precedes a conv,
into the weights the chip holds (enof.exporter.graph); the fine-tuner maps folded target values back
onto the module's own parameters (enof.trainer.finetune). The two directions live here together, so
that they stay each other's inverse (tests/test_folding.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchNormStats:
    """A BatchNorm's affine parameters and running statistics, float64, one value per channel."""

    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float

    @classmethod
    def of(cls, bn) -> "BatchNormStats":
        """From a torch BatchNorm1d/2d (γ = 1 and β = 0 where it has no affine parameters)."""
        mean, var = _float64(bn.running_mean), _float64(bn.running_var)
        gamma = _float64(bn.weight) if bn.weight is not None else np.ones(mean.shape[0])
        beta = _float64(bn.bias) if bn.bias is not None else np.zeros(mean.shape[0])
        return cls(gamma, beta, mean, var, float(bn.eps))

    @property
    def factor(self) -> np.ndarray:
        """γ/σ, σ = sqrt(running_var + eps): what folding multiplies each output channel by."""
        return self.gamma / np.sqrt(self.running_var + self.eps)


def _float64(tensor) -> np.ndarray:
    return tensor.detach().double().cpu().numpy()


def _per_output(values: np.ndarray, ndim: int) -> np.ndarray:
    return values.reshape(-1, *([1] * (ndim - 1)))


def fold_batchnorm(weight: np.ndarray, bias: np.ndarray, bn: BatchNormStats) -> tuple[np.ndarray, np.ndarray]:
    """BN(W·x + b) = (γ/σ)·W·x + (γ/σ)(b − μ) + β, per output channel."""
    factor = bn.factor
    return weight * _per_output(factor, weight.ndim), (bias - bn.running_mean) * factor + bn.beta


def unfold_batchnorm_weight(folded: np.ndarray, bn: BatchNormStats) -> np.ndarray:
    """The module weight W whose fold is ``folded``: W = W_f / (γ/σ)."""
    return folded / _per_output(bn.factor, folded.ndim)


def unfold_batchnorm_beta(folded_bias: np.ndarray, module_bias: np.ndarray, bn: BatchNormStats) -> np.ndarray:
    """The BatchNorm's β that folds ``module_bias`` to ``folded_bias``: β = b_f − (b − μ)·γ/σ."""
    return folded_bias - (module_bias - bn.running_mean) * bn.factor


def fold_avgpool_into_conv(
    weight: np.ndarray, stride: tuple[int, int], padding: tuple[int, int], pool_k: int
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """AvgPool2d(k) then conv(W, stride s, padding p) == conv(W spread over k×k / k², stride s·k, padding p·k).

    Holds when the pooled input's height and width are multiples of k (checked by the caller).
    """
    if pool_k == 1:
        return weight, stride, padding
    spread = np.repeat(np.repeat(weight, pool_k, axis=2), pool_k, axis=3) / float(pool_k * pool_k)
    return (
        spread,
        (stride[0] * pool_k, stride[1] * pool_k),
        (padding[0] * pool_k, padding[1] * pool_k),
    )


def unfold_avgpool_from_conv(folded: np.ndarray, kernel_hw: tuple[int, int]) -> np.ndarray:
    """The conv weight of kernel ``kernel_hw`` whose average-pool fold is ``folded`` (unchanged when no pool
    was folded in): one tap of each k×k block, times k²."""
    if folded.ndim != 4 or folded.shape[2] == kernel_hw[0]:
        return folded
    k = folded.shape[2] // kernel_hw[0]
    return folded[:, :, ::k, ::k] * float(k * k)
