"""host_out.onnx / host_in.onnx: onnx full check, ONNX Runtime equals the PyTorch graph, dynamic batch."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from enof.exporter.graph import capture
from enof.exporter.partition import partition
from enof.exporter.to_onnx import host_in_module, host_out_module, write_host_in, write_host_out

# float32 through different kernels (ORT vs PyTorch): differences ~1e-7 on O(1) logits.
TOL = 1e-5


@pytest.mark.parametrize(
    "arch, shape, repact, kwargs",
    [("digits_cnn", (1, 8, 8), True, {"width": 8}), ("digits_cnn", (1, 8, 8), False, {"width": 8}),
     ("resnet19", (3, 32, 32), True, {})],
)
def test_host_out_onnx_runtime_matches_pytorch_at_another_batch_size(model_factory, tmp_path, arch, shape, repact, kwargs):
    graph = capture(model_factory(arch, repact=repact, timesteps=3, **kwargs), shape, 3)
    part = partition(graph, graded_spikes=True)
    write_host_out(graph, part, tmp_path / "host_out.onnx")  # exported at batch 2
    session = ort.InferenceSession(str(tmp_path / "host_out.onnx"))
    assert [i.name for i in session.get_inputs()] == part.chip_outputs
    gen = torch.Generator().manual_seed(0)
    spikes = [(torch.rand(3, 5, *graph.nodes[lif].shape, generator=gen) > 0.7).float() for lif in part.chip_outputs]
    (logits,) = session.run(["logits"], {lif: s.numpy() for lif, s in zip(part.chip_outputs, spikes)})
    with torch.no_grad():
        ref = host_out_module(graph, part)(*spikes).numpy()
    assert logits.shape == (5, 10)
    assert np.abs(logits - ref).max() <= TOL


def test_host_in_onnx_runtime_matches_pytorch(model_factory, tmp_path):
    graph = capture(model_factory("digits_cnn", timesteps=2, width=8), (1, 8, 8), 2)
    part = partition(graph, graded_spikes=False)
    write_host_in(graph, part, tmp_path / "host_in.onnx")
    session = ort.InferenceSession(str(tmp_path / "host_in.onnx"))
    x = torch.rand(7, 1, 8, 8)
    (current,) = session.run(["current"], {"x": x.numpy()})
    with torch.no_grad():
        ref = host_in_module(graph, part)(x).numpy()
    assert current.shape == (7, *graph.nodes[part.current_target].shape)
    assert np.abs(current - ref).max() <= TOL
