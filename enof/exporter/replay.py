"""Run a part of a ``Graph`` in PyTorch (float): the reference for NIR, ONNX and calibration.

``Replay(graph, names, inputs, outputs)`` computes the nodes ``names`` (a subset, topological
order) from the tensors named in ``inputs``. Before the head's pool, tensors are time-major
``(T, B, *shape)``; ``pool`` (mean over space and time) returns ``(B, C)`` and what follows is
per sample. Weight layers see time folded into the batch, as in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from enof.exporter.graph import ConvNode, DenseNode, FlattenNode, Graph, LifNode, PoolNode, ReluNode


def lif_sequence(current: torch.Tensor, decay: float, v_threshold: float, probe: dict | None = None):
    """EnOF LIF over time (design.md §1): current (T, B, ...) → spikes (T, B, ...)."""
    v = torch.zeros_like(current[0])
    spikes = []
    for step in range(current.shape[0]):
        v = decay * v + current[step]
        s = (v > v_threshold).to(current.dtype)
        if probe is not None:
            probe["v_max"] = max(probe.get("v_max", 0.0), float(v.abs().max()))
            probe["current_max"] = max(probe.get("current_max", 0.0), float(current[step].abs().max()))
        v = v * (1.0 - s)
        spikes.append(s)
    return torch.stack(spikes)


class Replay(nn.Module):
    """Computes ``outputs`` from ``inputs`` (names of graph tensors, in forward's argument order)."""

    def __init__(self, graph: Graph, names: list[str], inputs: list[str], outputs: list[str]):
        super().__init__()
        self.graph = graph
        self.names = list(names)
        self.input_names = list(inputs)
        self.output_names = list(outputs)
        self.probes: dict[str, dict] | None = None
        for name in self.names:
            node = graph.nodes[name]
            if isinstance(node, (ConvNode, DenseNode)):
                self.register_buffer(self._key(name, "weight"), torch.from_numpy(node.weight.copy()))
                self.register_buffer(self._key(name, "bias"), torch.from_numpy(node.bias.copy()))

    @staticmethod
    def _key(name: str, what: str) -> str:
        return f"{name.replace('.', '_')}__{what}"

    def _apply(self, node, x: torch.Tensor) -> torch.Tensor:
        w = getattr(self, self._key(node.name, "weight"))
        b = getattr(self, self._key(node.name, "bias"))
        if isinstance(node, ConvNode):
            lead = x.shape[:-3]
            y = F.conv2d(x.flatten(0, len(lead) - 1), w, b, stride=node.stride, padding=node.padding)
            return y.unflatten(0, lead)
        return F.linear(x, w, b)

    def forward(self, *tensors: torch.Tensor):
        values = dict(zip(self.input_names, tensors))
        for name in self.names:
            node = self.graph.nodes[name]
            if isinstance(node, (ConvNode, DenseNode)):
                values[name] = self._apply(node, values[node.sources[0]])
            elif isinstance(node, FlattenNode):
                x = values[node.sources[0]]
                values[name] = x.flatten(x.dim() - len(node.in_shape))
            elif isinstance(node, (LifNode, ReluNode)):
                total = values[node.sources[0]]
                for src in node.sources[1:]:
                    total = total + values[src]
                if isinstance(node, ReluNode):
                    values[name] = torch.relu(total)
                else:
                    probe = None if self.probes is None else self.probes.setdefault(name, {})
                    values[name] = lif_sequence(total, node.decay, node.v_threshold, probe)
            elif isinstance(node, PoolNode):
                x = values[node.sources[0]]  # (T, B, C, H, W) or (T, B, N)
                if x.dim() == 5:
                    x = x.mean(dim=(3, 4))
                values[name] = x.mean(dim=0)
            else:
                raise TypeError(f"{name}: no replay for {type(node).__name__}")
        out = tuple(values[n] for n in self.output_names)
        return out[0] if len(out) == 1 else out
