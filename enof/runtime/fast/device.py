"""Where the built-in simulator runs: ``resolve_device("auto"|"cpu"|"cuda"|"cuda:N")`` and the CUDA settings that
keep its fixed-point arithmetic exact.

Exactness on CUDA: the simulator's integers live in float32 below 2^24 and float64 below 2^53 (synapses.py);
every partial sum of a product of such integers is an integer below the same bound, so any summation order
gives the exact result, provided each multiply-add is a true float32 (or float64) one. That rules out TF32
(10-bit mantissa inputs), reduced-precision reductions, and convolution algorithms that transform their
operands (Winograd, FFT: non-integer intermediates that round). So fixed point runs with TF32 and reduced
reductions off and cuDNN off (torch's own im2col + cuBLAS GEMM: plain multiply-adds); float mode keeps cuDNN
(deterministic, TF32 off) and agrees with the CPU within a tolerance, as any two float summation orders do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from math import prod

import torch

from enof.errors import RunError
from enof.spelling import FLAGS, Spelling

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def resolve_device(spec: str, local_rank: int = 0, spelling: Spelling = FLAGS) -> torch.device:
    """``auto``: a CUDA GPU when torch sees one (GPU ``local_rank`` mod count: one per torchrun process on a
    machine), else the CPU; ``cuda``/``cuda:N`` must exist. Errors name the device as ``spelling`` does."""
    s = spelling
    if spec == "auto":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return torch.device("cuda", local_rank % count) if count else torch.device("cpu")
    try:
        device = torch.device(spec)
    except (RuntimeError, ValueError):
        raise RunError(f"{s.given('device', spec, True)}: expected {DEVICE_CHOICES}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise RunError(f"{s.given('device', spec, True)}: expected {DEVICE_CHOICES}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise RunError(f"{s.given('device', spec)}: torch {torch.__version__} sees no CUDA GPU here; "
                       f"use {s.either('device', 'cpu', 'auto')}")  # fmt: skip
    index = 0 if device.index is None else device.index
    if index >= count:
        raise RunError(f"{s.given('device', spec)}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


@contextmanager
def exact_arithmetic(device: torch.device, fixed_point: bool) -> Iterator[None]:
    """On CUDA, within the block: TF32 and reduced-precision reductions off, cuDNN deterministic, and off for
    fixed point (see the module docstring); the previous settings come back after. A no-op on the CPU."""
    if device.type != "cuda":
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, matmul.allow_fp16_reduced_precision_reduction,
             matmul.allow_bf16_reduced_precision_reduction, cudnn.allow_tf32, cudnn.deterministic,
             cudnn.benchmark, cudnn.enabled)  # fmt: skip
    matmul.allow_tf32 = matmul.allow_fp16_reduced_precision_reduction = False
    matmul.allow_bf16_reduced_precision_reduction = False
    cudnn.allow_tf32, cudnn.deterministic, cudnn.benchmark = False, True, False
    cudnn.enabled = not fixed_point
    try:
        with torch.cuda.device(device):
            yield
    finally:
        (matmul.allow_tf32, matmul.allow_fp16_reduced_precision_reduction,
         matmul.allow_bf16_reduced_precision_reduction, cudnn.allow_tf32, cudnn.deterministic,
         cudnn.benchmark, cudnn.enabled) = saved  # fmt: skip


# Bytes one sample needs per LIF neuron on the device: u and v (float64), the step's summed input and its
# spikes (float64 on the general path), the time-summed counts and the output raster (float32), with room
# for the temporaries of one step. A conservative estimate, refined by the headroom below.
BYTES_PER_NEURON_SAMPLE = 64
FREE_MEMORY_FRACTION = 0.5  # of the GPU's free memory: what the allocator's caching and fragmentation leave


def auto_batch_size(program, device: torch.device, samples: int) -> int:
    """A batch for ``--batch-size auto`` on CUDA: half the free memory over an estimate of one sample's bytes
    (its neurons' state, and the largest conv's unfolded input, as torch's im2col convolution builds it)."""
    refuse_auto_batch_size_off_cuda(device)
    neurons = sum(layer.neurons for layer in program.layers.values())
    unfolded = max((prod(s.weight.shape[1:]) * program.layers[s.target].neurons // s.weight.shape[0]
                    for s in program.synapses if s.weight.ndim == 4), default=0)  # fmt: skip  (a 4-D weight: im2col)
    per_sample = BYTES_PER_NEURON_SAMPLE * neurons + 8 * unfolded
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, min(samples, int(FREE_MEMORY_FRACTION * free) // per_sample))


def refuse_auto_batch_size_off_cuda(device: torch.device, spelling: Spelling = FLAGS) -> None:
    """``batch_size`` auto sizes a batch by free CUDA memory: a RunError on any other device."""
    if device.type != "cuda":
        raise RunError(f"{spelling.given('batch_size', 'auto')} picks a batch from free CUDA memory; on the CPU "
                       "give a number (memory grows with the batch: 256 suits most networks)")
