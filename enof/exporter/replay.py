"""Run a part of a ``Graph`` in PyTorch (float): the reference for NIR, ONNX and calibration.

``Replay(graph, names, inputs, outputs)`` computes the nodes ``names`` (a subset, topological
order) from the tensors named in ``inputs``. Before the head's pool, tensors are time-major
``(T, B, *shape)``; ``pool`` (mean over space and time) returns ``(B, C)`` and what follows is
per sample. Weight layers see time folded into the batch, as in training. ``REPLAY_STEPS`` holds
one float function per node type; a weight node runs its synapse kind's ``replay`` (enof.synapses).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from enof.exporter.graph import FlattenNode, Graph, LifNode, Node, PoolNode, ReluNode, WeightNode
from enof.lif import heaviside, lif_fire, lif_integrate
from enof.synapses import KINDS


def lif_sequence(current: torch.Tensor, decay: float, v_threshold: float, probe: dict | None = None):
    """EnOF LIF over time (design.md §1, the step of enof.lif): current (T, B, ...) → spikes (T, B, ...).

    ``probe``: a dict that keeps the largest |v| before reset (``v_max``) and |input| (``current_max``)."""
    v = None  # the resting membrane
    spikes = []
    for step in range(current.shape[0]):
        v_integrated = lif_integrate(v, current[step], decay=decay)
        if probe is not None:
            probe["v_max"] = max(probe.get("v_max", 0.0), float(v_integrated.abs().max()))
            probe["current_max"] = max(probe.get("current_max", 0.0), float(current[step].abs().max()))
        s, v = lif_fire(v_integrated, v_threshold=v_threshold, spike=heaviside)
        spikes.append(s)
    return torch.stack(spikes)


def _summed(sources: list[torch.Tensor]) -> torch.Tensor:
    total = sources[0]
    for other in sources[1:]:
        total = total + other
    return total


def _weights(replay: Replay, node: WeightNode, sources: list[torch.Tensor]) -> torch.Tensor:
    """The float op of the node's synapse kind (enof.synapses: conv2d, linear)."""
    return KINDS[node.kind].replay(node.connection, sources[0], *replay.parameters_of(node.name))


def _flatten(replay: Replay, node: FlattenNode, sources: list[torch.Tensor]) -> torch.Tensor:
    x = sources[0]
    return x.flatten(x.dim() - len(node.in_shape))


def _lif(replay: Replay, node: LifNode, sources: list[torch.Tensor]) -> torch.Tensor:
    probe = None if replay.probes is None else replay.probes.setdefault(node.name, {})
    return lif_sequence(_summed(sources), node.decay, node.v_threshold, probe)


def _relu(replay: Replay, node: ReluNode, sources: list[torch.Tensor]) -> torch.Tensor:
    return torch.relu(_summed(sources))


def _pool(replay: Replay, node: PoolNode, sources: list[torch.Tensor]) -> torch.Tensor:
    x = sources[0]  # (T, B, C, H, W) or (T, B, N)
    if x.dim() == 5:
        x = x.mean(dim=(3, 4))
    return x.mean(dim=0)


ReplayStep = Callable[["Replay", Node, list[torch.Tensor]], torch.Tensor]
REPLAY_STEPS: dict[type[Node], ReplayStep] = {
    WeightNode: _weights,
    FlattenNode: _flatten,
    LifNode: _lif,
    ReluNode: _relu,
    PoolNode: _pool,
}


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
            if type(node) not in REPLAY_STEPS:
                raise TypeError(f"{name}: no replay for {type(node).__name__}")
            if getattr(node, "weight", None) is not None:  # a weight node: its parameters as buffers
                self.register_buffer(self._key(name, "weight"), torch.from_numpy(node.weight.copy()))
                self.register_buffer(self._key(name, "bias"), torch.from_numpy(node.bias.copy()))

    @staticmethod
    def _key(name: str, what: str) -> str:
        return f"{name.replace('.', '_')}__{what}"

    def parameters_of(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight, bias) of weight node ``name``, as this module's buffers."""
        return getattr(self, self._key(name, "weight")), getattr(self, self._key(name, "bias"))

    def forward(self, *tensors: torch.Tensor):
        values = dict(zip(self.input_names, tensors))
        for name in self.names:
            node = self.graph.nodes[name]
            values[name] = REPLAY_STEPS[type(node)](self, node, [values[s] for s in node.sources])
        out = tuple(values[n] for n in self.output_names)
        return out[0] if len(out) == 1 else out
