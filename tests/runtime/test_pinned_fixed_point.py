"""The built-in simulator's exactness choices, pinned: float32 only where the no-wrap LIF step is exact in it
(a power-of-two decay factor and every sum below 2^24), float64 for any other decay; and on CUDA, cuDNN
off for fixed point (its Winograd/FFT algorithms round integer operands), on for float, with TF32 off in
both, checked on the CPU by handing ``exact_arithmetic`` a CUDA device with torch.cuda.device patched."""

from __future__ import annotations

import contextlib

import pytest
import torch

from enof.runtime.fast.device import exact_arithmetic
from enof.lava_arithmetic import lif_fixed_step, lif_fixed_step_no_wrap, no_wrap_dtype


@pytest.mark.parametrize(
    "dv, bias_max, expected",
    [
        # dv = 3072: v keeps 1024/4096; largest = (2^23 − 1)/4 + 2^23 + bias < 2^24  <=>  bias < 6291456.25
        (3072, 6291456, torch.float32), (3072, 6291457, torch.float64),
        # dv = 2048: 2048/4096; largest = (2^23 − 1)/2 + 2^23 + bias < 2^24  <=>  bias < 4194304.5
        (2048, 4194304, torch.float32), (2048, 4194305, torch.float64),
        # dv = 0: no decay (factor 4096); largest = 2^24 − 1 + bias: float32 only without a bias
        (0, 0, torch.float32), (0, 1, torch.float64),
        # factors that are not powers of two: float64 whatever the bias (v · factor is rounded in float32)
        (3071, 0, torch.float64), (3073, 0, torch.float64), (3000, 0, torch.float64), (1, 0, torch.float64),
        # dv = 4095: factor 1, a power of two
        (4095, 0, torch.float32),
    ],
)  # fmt: skip
def test_no_wrap_dtype_is_float32_only_for_power_of_two_decay_factors_below_2_pow_24(dv, bias_max, expected):
    assert no_wrap_dtype(dv, float(bias_max)) == expected


def test_no_wrap_dtype_at_16_state_bits_allows_a_larger_bias_in_float32():
    """state_bits 16: largest = (2^15 − 1)/4 + 2^15 + bias < 2^24  <=>  bias < 16736256.25."""
    assert no_wrap_dtype(3072, 16736256.0, state_bits=16) == torch.float32
    assert no_wrap_dtype(3072, 16736257.0, state_bits=16) == torch.float64


def test_a_decay_that_is_not_a_power_of_two_needs_float64_to_match_lavas_integers():
    """Why the choice matters: dv = 3000 keeps trunc(v · 1096 / 4096); v · 1096 reaches 9.2e9, far above float32's
    2^24, so float32 truncates a rounded product (one of these five is off by one). float64 gives the general int64 path's integers exactly."""
    v0 = torch.tensor([8388607, 8388605, -8388601, 5000001, -7777777])
    zero = torch.zeros_like(v0)
    _, _, reference = lif_fixed_step(zero, zero, v0, du=4095, dv=3000, vth=2**17, bias=0)  # (a_in, u, v)
    _, as_float64 = lif_fixed_step_no_wrap(zero.double(), v0.double(), dv=3000, vth=2**17, bias=0)  # (a_in, v)
    _, as_float32 = lif_fixed_step_no_wrap(zero.float(), v0.float(), dv=3000, vth=2**17, bias=0)
    assert reference.tolist() == [2244607, 2244607, -2244606, 1337890, -2081162]  # trunc(v · 1096 / 4096)
    assert as_float64.long().tolist() == reference.tolist()
    assert as_float32.long().tolist()[-1] == -2081163  # v · 1096 rounded to float32 before the truncation


# ---- CUDA settings, on the CPU


@pytest.fixture
def as_if_cuda(monkeypatch):
    """torch.cuda.device replaced by a no-op so that exact_arithmetic's CUDA branch runs without a GPU; the
    backend flags the test sets are put back afterwards (torch's flag modules are not plain objects that
    monkeypatch can restore)."""
    monkeypatch.setattr(torch.cuda, "device", lambda _device: contextlib.nullcontext())
    saved = _flags()
    yield torch.device("cuda", 0)
    _set_flags(saved)


_FLAGS = {"matmul_tf32": ("matmul", "allow_tf32"), "fp16_reduced": ("matmul", "allow_fp16_reduced_precision_reduction"),
          "bf16_reduced": ("matmul", "allow_bf16_reduced_precision_reduction"), "cudnn_tf32": ("cudnn", "allow_tf32"),
          "deterministic": ("cudnn", "deterministic"), "benchmark": ("cudnn", "benchmark"), "cudnn": ("cudnn", "enabled")}


def _modules():
    return {"matmul": torch.backends.cuda.matmul, "cudnn": torch.backends.cudnn}


def _set_flags(values: dict[str, bool]) -> None:
    for key, value in values.items():
        module, name = _FLAGS[key]
        setattr(_modules()[module], name, value)


def _flags() -> dict[str, bool]:
    return {key: bool(getattr(_modules()[module], name)) for key, (module, name) in _FLAGS.items()}


@pytest.mark.parametrize("fixed_point, cudnn_on", [(True, False), (False, True)])
def test_cudnn_is_off_for_fixed_point_and_on_for_float_on_cuda(as_if_cuda, fixed_point, cudnn_on):
    _set_flags({"cudnn": True, "benchmark": True, "matmul_tf32": True, "cudnn_tf32": True})  # a user's settings
    before = _flags()
    with exact_arithmetic(as_if_cuda, fixed_point=fixed_point):
        inside = _flags()
    assert inside == {"matmul_tf32": False, "fp16_reduced": False, "bf16_reduced": False, "cudnn_tf32": False,
                      "deterministic": True, "benchmark": False, "cudnn": cudnn_on}  # fmt: skip
    assert _flags() == before  # restored after the block


def test_exact_arithmetic_leaves_every_flag_alone_on_the_cpu(as_if_cuda):
    _set_flags({"cudnn": True, "matmul_tf32": True})
    before = _flags()
    with exact_arithmetic(torch.device("cpu"), fixed_point=True):
        assert _flags() == before
