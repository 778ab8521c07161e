"""Split a graph into chip, host_in and host_out (issue 3; docs/design.md §5).

- host_out: from the RepAct cut onward — the weight layers whose outputs feed the RepAct ReLU
  (with the shortcut that joins them), the ReLU, pooling and the classifier. Without RepAct:
  pooling and the classifier after the last LIF. The LIFs feeding host_out are the chip outputs.
- host_in (targets without graded spikes, Loihi 1, on static images): the first, analog-input weight
  layer; its output enters the first LIF as input current, constant over the T steps. Event data on
  such a target stays on the chip: its frames enter as binary spikes ("spikes" input mode).
- chip: everything else (LIFs and the weight layers between them).

What a node kind means to the split is one ``KindRole`` in ``ROLES``: a new kind is one entry there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from enof.errors import UnsupportedModuleError
from enof.formats.manifest import input_mode_for
from enof.exporter.graph import INPUT, FlattenNode, Graph, LifNode, Node, PoolNode, ReluNode, WeightNode

Where = Literal["chip", "host_in", "host_out"]


@dataclass(frozen=True)
class PartitionEntry:
    node: str
    where: Where
    shape: tuple[int, ...]
    reason: str

    def to_json(self) -> dict:
        return {"node": self.node, "where": self.where, "shape": list(self.shape), "reason": self.reason}


@dataclass(frozen=True)
class Partition:
    entries: list[PartitionEntry]
    input_mode: Literal["graded", "spikes", "current"]  # formats.manifest.input_mode_for
    chip_outputs: list[str]  # LIFs whose spikes go to host_out, in graph order
    current_target: str | None  # the LIF receiving the host-in current (current mode)

    def names(self, where: Where) -> list[str]:
        return [e.node for e in self.entries if e.where == where]

    def where(self, node: str) -> Where:
        return next(e.where for e in self.entries if e.node == node)


@dataclass(frozen=True)
class KindRole:
    """What the split needs to know about a node kind."""

    spiking: bool = False  # a neuron layer: on the chip, and never after the RepAct cut
    weights: bool = False  # synapses: between spiking layers on the chip, or the host-in input layer
    view: bool = False  # a reshape: goes where the layer it feeds goes
    graded: bool = False  # a graded activation (the RepAct ReLU): the host part starts at its inputs
    head: bool = False  # the head's pooling: on the host, with the classifier


ROLES: dict[type[Node], KindRole] = {
    WeightNode: KindRole(weights=True),  # every synapse kind (enof.synapses)
    FlattenNode: KindRole(view=True),
    LifNode: KindRole(spiking=True),
    ReluNode: KindRole(graded=True),
    PoolNode: KindRole(head=True),
}


def role(node: Node) -> KindRole:
    return ROLES[type(node)]


def _descendants(graph: Graph, roots: set[str]) -> set[str]:
    found = set(roots)
    for node in graph.nodes.values():  # topological order: one pass suffices
        if any(s in found for s in node.sources):
            found.add(node.name)
    return found


def partition(graph: Graph, graded_spikes: bool, temporal: bool = False) -> Partition:
    """Assign every node of ``graph``; ``graded_spikes`` is the target's ability to take pixel values on chip,
    ``temporal`` whether the input is event frames (which enter a target without graded spikes as spikes)."""
    nodes = graph.nodes
    input_mode = input_mode_for(graded_spikes, temporal)
    relus = [n.name for n in nodes.values() if role(n).graded]
    if relus:
        cut = {s for r in relus for s in nodes[r].sources}
        frontier = list(cut)
        while frontier:  # include Flatten views in front of the cut's weight layers
            for src in nodes[frontier.pop()].sources:
                if src != INPUT and role(nodes[src]).view and src not in cut:
                    cut.add(src)
                    frontier.append(src)
        host_out = _descendants(graph, cut)
        reason_out = "RepAct cut: graded ReLU input, runs on the host"
    else:
        host_out = {n.name for n in nodes.values() if role(n).head} | {graph.output}
        host_out = _descendants(graph, host_out)
        reason_out = "pooling and classifier after the last LIF"
    for name in nodes:  # graph order: the first offending LIF is named
        if name in host_out and role(nodes[name]).spiking:
            raise UnsupportedModuleError(
                f"{name}: a LIF after the ReLU {relus[0]} — only the last activation may be a (RepAct) ReLU"
            )
    chip_outputs = [
        n for n in nodes
        if role(nodes[n]).spiking and any(n in nodes[h].sources for h in host_out)
    ]
    if any(INPUT in nodes[h].sources for h in host_out):
        raise UnsupportedModuleError("the input feeds the host-side layers directly: no spiking layer to put on the chip")

    host_in: set[str] = set()
    current_target = None
    if input_mode == "current":
        host_in = {n.name for n in nodes.values() if INPUT in n.sources}
        frontier = [h for h in host_in if role(nodes[h]).view]
        while frontier:
            flat = frontier.pop()
            for c in graph.consumers(flat):
                host_in.add(c.name)
        targets = {c.name for h in host_in for c in graph.consumers(h) if c.name not in host_in}
        weights = [h for h in host_in if role(nodes[h]).weights]
        if not weights or len(targets) != 1 or not role(nodes[next(iter(targets))]).spiking:
            raise UnsupportedModuleError(
                f"input layer(s) {sorted(host_in)} must be weight layers feeding exactly one LIF in current mode"
            )
        current_target = next(iter(targets))
        if set(nodes[current_target].sources) - host_in:
            raise UnsupportedModuleError(f"{current_target}: the first LIF must take only the input layer's current")

    entries = []
    for name, node in nodes.items():
        if name in host_out:
            where, reason = "host_out", reason_out
            if role(node).head:
                reason = "mean over space and time (no NIR node)"
            elif name == graph.output:
                reason = "classifier on the time-averaged feature"
        elif name in host_in:
            where = "host_in"
            reason = "analog input layer: no graded spikes on this target; output enters the first LIF as current"
        else:
            where = "chip"
            if role(node).spiking:
                reason = "spiking layer" + (" (chip output)" if name in chip_outputs else "")
            elif INPUT in node.sources:
                reason = ("first layer: pixels enter as graded spikes" if input_mode == "graded"
                          else "first layer: events enter as binary spikes (counts clipped to 1)")
            elif getattr(node, "role", None) == "identity-shortcut":
                reason = "identity shortcut as a 1×1 identity conv"
            else:
                reason = "synapses between spiking layers"
        entries.append(PartitionEntry(name, where, tuple(node.shape), reason))
    return Partition(entries, input_mode, chip_outputs, current_target)
