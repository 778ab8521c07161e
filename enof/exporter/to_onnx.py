"""The host parts as ONNX (docs/design.md §5), checked with ``onnx.checker`` (full_check).

- ``host_out.onnx``: one input per chip-output LIF, named by the LIF, ``(T, B, *shape)`` float 0/1
  spikes in aligned time → ``logits`` (B, K).
- ``host_in.onnx`` (current mode): ``x`` (B, C, H, W) normalized → ``current`` (B, *shape of the
  first LIF), constant over the T steps.
Both have a dynamic batch dimension. Exported with the TorchScript exporter (``dynamo=False``):
the dynamo exporter needs onnxscript, which enof does not depend on.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
import torch

from enof.exporter.graph import INPUT, Graph
from enof.exporter.partition import Partition
from enof.exporter.replay import Replay

OPSET = 17


def host_out_module(graph: Graph, part: Partition) -> Replay:
    return Replay(graph, part.names("host_out"), list(part.chip_outputs), [graph.output])


def host_in_module(graph: Graph, part: Partition) -> Replay:
    sources = [s for s in graph.nodes[part.current_target].sources]
    return Replay(graph, part.names("host_in"), [INPUT], sources)


class _SumOutputs(torch.nn.Module):
    """host_in's current: the sum of the input layers feeding the first LIF (usually one)."""

    def __init__(self, inner: Replay):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if isinstance(out, tuple):
            total = out[0]
            for o in out[1:]:
                total = total + o
            return total
        return out


def _export(module: torch.nn.Module, example: tuple, names_in: list[str], names_out: list[str],
            batch_axis: dict[str, int], path: Path) -> onnx.ModelProto:
    tmp = Path(f"{path}.tmp")
    dynamic_axes = {name: {axis: "batch"} for name, axis in batch_axis.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript exporter deprecation notices
        torch.onnx.export(
            module.eval(), example, str(tmp), input_names=names_in, output_names=names_out,
            dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False,
        )
    model = onnx.load(str(tmp))
    onnx.checker.check_model(model, full_check=True)
    os.replace(tmp, path)
    return model


def write_host_out(graph: Graph, part: Partition, path: Path) -> onnx.ModelProto:
    module = host_out_module(graph, part)
    t = graph.timesteps
    example = tuple(torch.zeros(t, 2, *graph.nodes[lif].shape) for lif in part.chip_outputs)
    axes = {lif: 1 for lif in part.chip_outputs}
    axes["logits"] = 0
    return _export(module, example, list(part.chip_outputs), ["logits"], axes, path)


def write_host_in(graph: Graph, part: Partition, path: Path) -> onnx.ModelProto:
    module = _SumOutputs(host_in_module(graph, part))
    example = (torch.zeros(2, *graph.input_shape),)
    return _export(module, example, ["x"], ["current"], {"x": 0, "current": 0}, path)
