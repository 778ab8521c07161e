"""A CPU run today gives the weights and metrics of the trainer before devices, AMP and DDP existed.

`data/reference_run.pt` was written by `data/make_reference_run.py` with the trainer of commit
35428d3 (CPU, one thread, float32). On the same machine type the run is bit for bit the same;
the weight tolerance (1e-6, about 10 float32 ulps of weights of order 0.1) only leaves room for
another CPU's vector kernels. The accuracies (counts of correct samples) must be equal; the mean losses
carry the same kernel roundings (an AVX-512 EPYC gives 2.3102940 for the stored 2.3102938), so they
must agree to 1e-6 relative, the weights' tolerance.
"""

from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from enof.trainer.checkpoint import load_checkpoint
from enof.datasets import LoadedDataset, load_dataset
from enof.trainer.loop import TrainConfig, train

REFERENCE = Path(__file__).parent / "data" / "reference_run.pt"


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_cpu_run_reproduces_the_stored_pre_device_run(tmp_path, one_thread):
    digits = load_dataset("digits")
    train_t, test_t = digits.train.tensors, digits.test.tensors
    small = LoadedDataset(digits.spec, TensorDataset(*(t[:256] for t in train_t)),
                          TensorDataset(*(t[:100] for t in test_t)))
    config = TrainConfig(dataset="digits", arch="digits_cnn", timesteps=2, epochs=3, teacher_epochs=2, batch_size=32,
                         lr=0.05, seed=7, out=str(tmp_path / "model.pt"), arch_kwargs={"width": 8}, device="cpu")
    result = train(config, data=small)
    teacher = load_checkpoint(tmp_path / "model.teacher.pt")
    reference = torch.load(REFERENCE, weights_only=True)
    for name, got in (("snn", result.checkpoint.state_dict), ("teacher", teacher.state_dict)):
        assert got.keys() == reference[name].keys()
        for key, expected in reference[name].items():
            assert got[key].device.type == "cpu"
            torch.testing.assert_close(got[key], expected, rtol=0, atol=1e-6, msg=f"{name} {key}")
    for got, expected in ((result.checkpoint.metrics["history"], reference["snn_history"]),
                          (teacher.metrics["history"], reference["teacher_history"])):  # fmt: skip
        assert [{k: v for k, v in e.items() if k != "loss"} for e in got] == [
            {k: v for k, v in e.items() if k != "loss"} for e in expected
        ]
        assert [e["loss"] for e in got] == pytest.approx([e["loss"] for e in expected], rel=1e-6, abs=0)
