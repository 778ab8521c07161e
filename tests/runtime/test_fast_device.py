"""The built-in simulator's exact-integer bound at its edges, its device choice, and (marked cuda) CUDA = CPU.

Exactness: float32 holds every integer below 2^24, float64 below 2^53; an operator whose bound
|input| · max Σ|W| is below 2^24 runs in float32, else float64. The edge cases put the true sum exactly on
the bound (all inputs at their maximum, all weights positive): 2^24 − 1 fits float32; 2^24 + 481 (odd, so
float32 cannot hold it) must take float64 and stay exact.
"""

import numpy as np
import pytest
import torch

from enof.errors import RunError
from enof.runtime.fast import simulate
from enof.runtime.fast.device import auto_batch_size, refuse_auto_batch_size_off_cuda, resolve_device
from enof.lava_arithmetic import FLOAT32_EXACT
from enof.runtime.fast.synapses import build_fixed_op
from enof.runtime.program import Synapse
from enof.spelling import KEYWORDS

INPUT_MAX = 241  # graded payload bound; 241 · 255 · 273 = 2^24 − 1 exactly
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


def _dense_on_the_bound(extra_weight: int | None) -> tuple[Synapse, int]:
    """A dense synapse of 273 weights of 255 (and one of ``extra_weight``), and the sum all-max inputs give."""
    weights = [255] * 273 + ([] if extra_weight is None else [extra_weight])
    w_int = np.asarray([weights], np.int32)
    shapes = {"a": (len(weights),), "b": (1,)}
    return Synapse.between("edge", "dense", "a", "b", shapes, w_int.astype(np.float32), w_int), INPUT_MAX * sum(weights)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("extra_weight, dtype", [(None, torch.float32), (2, torch.float64)])
def test_a_sum_on_the_exact_integer_bound_is_exact_in_the_dtype_chosen_for_it(extra_weight, dtype, device):
    syn, exact_sum = _dense_on_the_bound(extra_weight)
    if dtype == torch.float32:
        assert exact_sum == FLOAT32_EXACT - 1  # just fits
    else:
        assert exact_sum > FLOAT32_EXACT and int(np.float32(exact_sum)) != exact_sum  # float32 would round it
    op = build_fixed_op(syn, input_bound=INPUT_MAX, graded=True, device=torch.device(device))
    x = torch.full((3, syn.weight.shape[1]), float(INPUT_MAX), device=device)
    out = op.apply(x)
    assert out.dtype == dtype and out.device.type == device
    assert out.cpu().double().tolist() == [[float(exact_sum)]] * 3


def test_resolve_device_names_the_flag_and_the_choices():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(RunError, match="--device 'tpu': expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        assert resolve_device("auto", local_rank=count + 1) == torch.device("cuda", 1 % count)
        with pytest.raises(RunError, match=f"has {count} CUDA GPU"):
            resolve_device(f"cuda:{count}")
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(RunError, match="--device cuda: torch .* sees no CUDA GPU here; use --device cpu or auto"):
            resolve_device("cuda")


def test_batch_size_auto_is_refused_on_the_cpu(random_program):
    with pytest.raises(RunError, match="--batch-size auto picks a batch from free CUDA memory; on the CPU give a number"):
        auto_batch_size(random_program(), torch.device("cpu"), 100)
    with pytest.raises(RunError, match="^batch_size='auto' picks a batch from free CUDA memory; on the CPU give"):
        refuse_auto_batch_size_off_cuda(torch.device("cpu"), KEYWORDS)


def test_resolve_device_names_the_keyword_when_called_for_enof_run():
    with pytest.raises(RunError, match="^device='tpu': expected auto, cpu, cuda or cuda:N$"):
        resolve_device("tpu", spelling=KEYWORDS)
    if not torch.cuda.is_available():
        with pytest.raises(RunError, match=r"^device='cuda:1': torch .* sees no CUDA GPU here; use device='cpu' or 'auto'$"):
            resolve_device("cuda:1", spelling=KEYWORDS)


@pytest.mark.cuda
def test_batch_size_auto_on_cuda_fits_free_memory(random_program):
    program = random_program()
    batch = auto_batch_size(program, torch.device("cuda"), 10**9)
    free, _ = torch.cuda.mem_get_info()
    assert 1 <= batch and batch * sum(layer.neurons for layer in program.layers.values()) * 64 <= free


@pytest.mark.cuda
@pytest.mark.parametrize("input_mode", ["graded", "current"])
def test_fixed_point_on_cuda_equals_the_cpu_bit_for_bit(random_program, random_inputs, input_mode):
    program = random_program(input_mode, seed=7, identity_exp=1)
    x = random_inputs(program, batch=6, seed=7)
    cpu = simulate(program, x, "fixed", record_spikes=True)
    gpu = simulate(program, x, "fixed", record_spikes=True, device="cuda")
    for name in program.layers:
        assert np.array_equal(gpu.spikes[name], cpu.spikes[name]), name
        assert np.array_equal(gpu.spike_counts[name], cpu.spike_counts[name]), name
    assert np.array_equal(gpu.input_nonzero, cpu.input_nonzero)


@pytest.mark.cuda
def test_float_mode_on_cuda_agrees_with_the_cpu(random_program, random_inputs):
    # Float32 sums in another order differ by a few ulps; a membrane within that of the threshold can flip a
    # spike, and a flip changes what follows: 99.9 % of spikes must agree (the Lava float test's bound).
    program = random_program("graded", seed=8)
    x = random_inputs(program, batch=6, seed=8)
    cpu = simulate(program, x, "float", record_spikes=True)
    gpu = simulate(program, x, "float", record_spikes=True, device="cuda")
    for name in program.layers:
        assert (gpu.spikes[name] == cpu.spikes[name]).mean() >= 0.999, name
