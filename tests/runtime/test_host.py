"""Host parts on ONNX Runtime: outputs equal the torch modules they were exported from; MACs by hand."""

import warnings

import numpy as np
import pytest
import torch

from enof.errors import RunError
from enof.exporter.host_macs import count_macs, host_macs
from enof.runtime.host import open_session, run_host_in, run_host_out


class _HostIn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class _HostOut(torch.nn.Module):
    """Two chip outputs: a conv map (T, B, 6, 4, 4) through a 1×1 conv, and a vector (T, B, 10); mean over T."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(6, 8, 1)
        self.fc = torch.nn.Linear(8 + 10, 3)

    def forward(self, a, b):
        t, batch = a.shape[:2]
        pooled = self.conv(a.flatten(0, 1)).mean((2, 3)).reshape(t, batch, 8).mean(0)
        return self.fc(torch.cat([pooled, b.mean(0)], dim=1))


def _export(module, example, names_in, names_out, batch_axes, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), example, str(path), input_names=names_in, output_names=names_out,
            dynamic_axes={n: {axis: "batch"} for n, axis in batch_axes.items()}, opset_version=17, dynamo=False,
        )  # fmt: skip
    return path


def test_host_in_and_host_out_match_torch_and_count_macs(tmp_path):
    torch.manual_seed(0)
    host_in, host_out = _HostIn(), _HostOut()
    in_path = _export(host_in, (torch.zeros(2, 1, 8, 8),), ["x"], ["current"], {"x": 0, "current": 0},
                      tmp_path / "host_in.onnx")  # fmt: skip
    example = (torch.zeros(4, 2, 6, 4, 4), torch.zeros(4, 2, 10))
    out_path = _export(host_out, example, ["backbone.2", "fc.act"], ["logits"],
                       {"backbone.2": 1, "fc.act": 1, "logits": 0}, tmp_path / "host_out.onnx")  # fmt: skip

    x = np.random.default_rng(0).normal(size=(5, 1, 8, 8)).astype(np.float32)
    current = run_host_in(open_session(in_path), x)
    # float32 on both sides with possibly different conv algorithms: agree to ~1e-6 relative.
    np.testing.assert_allclose(current, host_in(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-5)

    rng = np.random.default_rng(1)
    spikes = {"backbone.2": (rng.random((4, 5, 6, 4, 4)) < 0.3).astype(np.float32),
              "fc.act": (rng.random((4, 5, 10)) < 0.3).astype(np.float32)}  # fmt: skip
    logits = run_host_out(open_session(out_path), spikes)
    expected = host_out(*(torch.from_numpy(spikes[k]) for k in ("backbone.2", "fc.act"))).detach().numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)

    # host_in: 4 output channels × 8×8 positions × (1 input channel × 3×3) = 2304 MACs per image.
    assert count_macs(in_path, {"x": (1, 1, 8, 8)}) == 4 * 64 * 9
    # host_out at T=4, batch 1: 1×1 conv 4 steps × 8 × 16 positions × 6 = 3072; fc 3 outputs × 18 = 54.
    assert count_macs(out_path, {"backbone.2": (4, 1, 6, 4, 4), "fc.act": (4, 1, 10)}) == 3072 + 54


def test_export_counts_host_macs_per_weight_and_at_one_step(tmp_path):
    """The manifest's host_macs (enof.exporter.host_macs): per weight initializer, host_in at one image, host_out
    at T = 4, and host_out with T freed at T = 1: the 1×1 conv once (8 × 16 × 6 = 768) plus fc (54)."""
    in_path = _export(_HostIn(), (torch.zeros(2, 1, 8, 8),), ["x"], ["current"], {"x": 0, "current": 0},
                      tmp_path / "host_in.onnx")  # fmt: skip
    out_path = _export(_HostOut(), (torch.zeros(4, 2, 6, 4, 4), torch.zeros(4, 2, 10)), ["backbone.2", "fc.act"],
                       ["logits"], {"backbone.2": 1, "fc.act": 1, "logits": 0}, tmp_path / "host_out.onnx")  # fmt: skip
    macs = host_macs(in_path.read_bytes(), out_path.read_bytes(), (1, 8, 8), {"backbone.2": (6, 4, 4), "fc.act": (10,)}, 4)
    assert macs.host_in == {"conv.weight": 4 * 64 * 9}
    assert macs.host_out == {"conv.weight": 3072, "fc.weight": 54}
    assert macs.host_out_one_step == 768 + 54
    assert host_macs(None, out_path.read_bytes(), (1, 8, 8), {"backbone.2": (6, 4, 4), "fc.act": (10,)}, 4).host_in == {}


def test_host_out_names_the_missing_chip_output(tmp_path):
    path = _export(_HostOut(), (torch.zeros(2, 1, 6, 4, 4), torch.zeros(2, 1, 10)), ["backbone.2", "fc.act"],
                   ["logits"], {"backbone.2": 1, "fc.act": 1, "logits": 0}, tmp_path / "host_out.onnx")  # fmt: skip
    with pytest.raises(RunError, match=r"the chip gave no \['fc.act'\]"):
        run_host_out(open_session(path), {"backbone.2": np.zeros((2, 1, 6, 4, 4), np.float32)})


def test_unreadable_onnx_is_a_run_error_naming_the_file(tmp_path):
    path = tmp_path / "host_out.onnx"
    path.write_bytes(b"not an onnx model")
    with pytest.raises(RunError, match="host_out.onnx: ONNX Runtime cannot load it"):
        open_session(path)
