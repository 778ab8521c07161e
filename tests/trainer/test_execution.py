"""Devices, mixed precision, layout and compilation of training runs (enof/trainer/execution.py).

CPU-only machines test every path they can: device resolution and its refusals, bf16 autocast
(the same autocast code CUDA runs), channels-last, torch.compile's graph capture (aot_eager
backend: the tracing without inductor's C++ build, which takes ~90 s on 2 cores). Tests marked
`cuda` run where torch sees a GPU (benchmarks/gpu_check.sh) and are skipped, saying so, elsewhere.
"""

import pytest
import torch

from enof.errors import EnofError
from enof.trainer.checkpoint import load_checkpoint
from enof.trainer.execution import Execution, resolve_device, resolve_execution
from enof.trainer.losses import laf_loss
from enof.trainer.loop import TrainConfig, train
from enof.trainer.models import build_model, repeat_over_time
from enof.trainer.neurons import LIF, NeuronConfig

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusals of a machine without a GPU")


def small_config(tmp_path, name="model.pt", **kw):
    base = dict(epochs=1, teacher_epochs=1, arch_kwargs={"width": 4}, train_limit=128, test_limit=50,
                batch_size=32, seed=1, out=str(tmp_path / name))
    return TrainConfig(**{**base, **kw})


def max_difference(a: dict, b: dict) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


@no_gpu
@pytest.mark.parametrize("choice", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_naming_the_flag_and_the_way_out(choice):
    with pytest.raises(EnofError, match=rf"--device {choice}: torch sees no CUDA GPU here .*use --device cpu or auto"):
        resolve_device(choice)


def test_device_and_amp_choices_resolve_or_are_refused_in_one_line():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(EnofError, match="--device tpu: unknown device; choose auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    with pytest.raises(EnofError, match="--amp fp16: float16 autocast needs CUDA; on CPU use --amp bf16 or --amp off"):
        resolve_execution("cpu", "fp16")
    with pytest.raises(EnofError, match="--amp fp8: choose one of auto, bf16, fp16, off"):
        resolve_execution("cpu", "fp8")
    if not torch.cuda.is_available():  # auto keeps a CPU run in float32, contiguous: today's numbers
        assert resolve_execution() == Execution(torch.device("cpu"), "off", False, False, False)


def test_lif_membrane_stays_float32_under_bf16_autocast():
    neuron = NeuronConfig()
    lif = LIF(2, neuron)
    torch.manual_seed(0)
    current = (torch.rand(2 * 3, 4, 5, 5) * 1.2).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        spikes = lif(current)
    # The same bf16 currents, upcast once: float32 recurrence gives exactly these spikes.
    assert spikes.dtype == torch.float32
    assert torch.equal(spikes, lif(current.float()))


def test_laf_is_computed_in_float32_under_autocast():
    fc = torch.nn.Linear(6, 4)
    torch.manual_seed(2)
    f_snn, f_ann = torch.randn(5, 6), torch.randn(5, 6)
    plain = laf_loss(f_snn, f_ann, fc)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = laf_loss(f_snn, f_ann, fc)
    assert mixed.dtype == torch.float32 and torch.equal(mixed, plain)


def test_bf16_autocast_training_on_cpu_stays_close_to_float32_and_saves_float32_cpu_weights(tmp_path):
    fp32 = train(small_config(tmp_path, "a.pt", device="cpu", amp="off"))
    bf16 = train(small_config(tmp_path, "b.pt", device="cpu", amp="bf16"))
    saved = load_checkpoint(tmp_path / "b.pt").state_dict
    assert all(t.dtype in (torch.float32, torch.int64) and t.device.type == "cpu" for t in saved.values())
    difference = max_difference(fp32.checkpoint.state_dict, bf16.checkpoint.state_dict)
    # bf16 convolutions round to 8 mantissa bits, so the runs differ, but 4 SGD steps stay close.
    assert 0 < difference < 0.05
    assert load_checkpoint(tmp_path / "b.pt").train_config["amp"] == "bf16"


def test_channels_last_model_computes_the_same_outputs():
    torch.manual_seed(0)
    model = build_model("digits_cnn", mode="snn", timesteps=2, width=4).eval()
    x = torch.rand(8, 1, 8, 8)
    expected = model(repeat_over_time(x, 2)).logits
    execution = Execution(torch.device("cpu"), channels_last=True)
    nhwc = execution.prepare_model(model)
    assert nhwc.backbone[0].weight.is_contiguous(memory_format=torch.channels_last)
    got = nhwc(repeat_over_time(execution.batch(x), 2)).logits
    # Same arithmetic in another memory order: equal up to float32 summation order.
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_compiled_training_captures_the_graph_and_gives_the_eager_weights(tmp_path, monkeypatch):
    original = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: original(self, backend="aot_eager"))
    eager = train(small_config(tmp_path, "eager.pt", device="cpu"))
    compiled = train(small_config(tmp_path, "compiled.pt", device="cpu", compile=True))
    assert compiled.checkpoint.state_dict.keys() == eager.checkpoint.state_dict.keys()  # no _orig_mod prefix
    assert max_difference(eager.checkpoint.state_dict, compiled.checkpoint.state_dict) == 0.0


@pytest.mark.cuda
@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_cuda_training_writes_a_device_independent_checkpoint(tmp_path, amp):
    result = train(small_config(tmp_path, f"{amp}.pt", device="cuda", amp=amp, epochs=2))
    ckpt = load_checkpoint(tmp_path / f"{amp}.pt")
    assert all(t.device.type == "cpu" for t in ckpt.state_dict.values())
    cpu_model = build_model("digits_cnn", mode="snn", timesteps=2, num_classes=10, in_channels=1, width=4,
                            repact=True)
    cpu_model.load_state_dict(ckpt.state_dict)
    assert 0.0 <= result.test_accuracy <= 1.0 and ckpt.train_config["device"] == "cuda"


@pytest.mark.cuda
def test_cuda_float32_training_agrees_with_cpu(tmp_path):
    cpu = train(small_config(tmp_path, "cpu.pt", device="cpu"))
    gpu = train(small_config(tmp_path, "gpu.pt", device="cuda", amp="off", channels_last=False, deterministic=True))
    # cuDNN's float32 convolutions sum in another order (TF32 is off): ~1e-6 per op; 4 steps stay < 1e-3
    # unless a spike flips, which moves single weights by ~lr × gradient (< 0.05 here).
    assert max_difference(cpu.checkpoint.state_dict, gpu.checkpoint.state_dict) < 0.05
