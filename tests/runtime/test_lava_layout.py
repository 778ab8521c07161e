"""Torch ↔ Lava layouts of the Lava backend, checked against lava's own conv code and torch (no Lava run)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import enof  # noqa: F401  (lava import fix)
from enof.runtime.lava.procs.models import pack_spikes
from enof.runtime.lava.procs.processes import packed_words
from enof.runtime.lava.layout import conv_weight_to_lava, dense_weight_to_lava, lava_shape, to_lava_layout
from enof.runtime.lava.builder import unpack_spikes


@pytest.mark.parametrize("stride, padding", [((1, 1), (1, 1)), ((2, 2), (1, 1)), ((2, 1), (0, 1)), ((1, 2), (2, 0))])
def test_lava_conv_of_converted_weights_equals_torch_cross_correlation(stride, padding):
    """Integer data, float64 sums < 2^53: exact equality."""
    from lava.proc.conv import utils

    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, size=(3, 7, 6)).astype(np.int32)  # (C, H, W), non-square on purpose
    w = rng.integers(-9, 10, size=(4, 3, 3, 2)).astype(np.int32)  # (C_out, C_in, kH, kW), non-square kernel
    expected = F.conv2d(torch.tensor(x[None], dtype=torch.float64), torch.tensor(w, dtype=torch.float64),
                        stride=stride, padding=padding)[0].numpy()  # fmt: skip
    w_lava = conv_weight_to_lava(w)
    out = utils.conv_scipy(to_lava_layout(x, x.shape), w_lava, w_lava.shape[1:3],
                           stride[::-1], padding[::-1], (1, 1), 1)  # fmt: skip
    assert out.shape == lava_shape(expected.shape)
    np.testing.assert_array_equal(to_lava_layout(out, expected.shape), expected)


def test_dense_weights_follow_torch_flattening_of_a_conv_shaped_source():
    """Lava flattens a (W, H, C) port in C order; the converted weights must give torch's W @ x.flatten()."""
    rng = np.random.default_rng(1)
    source_shape = (3, 4, 5)
    x = rng.integers(0, 2, size=source_shape)
    w = rng.integers(-20, 21, size=(6, 60))
    w_lava = dense_weight_to_lava(w, (6,), source_shape)
    np.testing.assert_array_equal(w_lava @ to_lava_layout(x, source_shape).reshape(-1), w @ x.reshape(-1))


def test_dense_weights_into_a_conv_shaped_target_permute_rows():
    rng = np.random.default_rng(2)
    target_shape = (2, 3, 4)
    x = rng.integers(0, 2, size=(5,))
    w = rng.integers(-20, 21, size=(24, 5))
    y_lava = dense_weight_to_lava(w, target_shape, (5,)) @ x
    y_torch = (w @ x).reshape(target_shape)
    np.testing.assert_array_equal(y_lava.reshape(lava_shape(target_shape)), to_lava_layout(y_torch, target_shape))


def test_to_lava_layout_is_its_own_inverse_and_keeps_leading_axes():
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    lava = to_lava_layout(a, (3, 4, 5))
    assert lava.shape == (2, 5, 4, 3)
    assert lava[1, 4, 2, 0] == a[1, 0, 2, 4]
    np.testing.assert_array_equal(to_lava_layout(lava, (3, 4, 5)), a)
    np.testing.assert_array_equal(to_lava_layout(a[0, 0, 0], (5,)), a[0, 0, 0])


@pytest.mark.parametrize("steps, neurons", [(1, 1), (3, 7), (4, 32), (20, 1024)])
def test_packed_spikes_read_back_through_float64_unchanged(steps, neurons):
    """Var.get() sends every value as float64: 32-bit words are exact there."""
    raster = np.random.default_rng(steps).random((steps, neurons)) < 0.3
    words = pack_spikes(raster, packed_words(steps * neurons))
    assert len(words) == max(1, -(-steps * neurons // 32))
    np.testing.assert_array_equal(unpack_spikes(words.astype(np.float64), steps, neurons), raster)
