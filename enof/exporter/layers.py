"""The chip part as the placer sees it: one ``LayerSpec`` per chip LIF with the Connections that feed it.

A weight node's Connection (``WeightNode.connection``, its kind's geometry) is what the placer takes; the
placer reaches each kind's cost through enof.synapses.KINDS.
"""

from __future__ import annotations

from dataclasses import replace

from enof.exporter.graph import Graph
from enof.exporter.partition import Partition, role
from enof.exporter.placement import LayerSpec


def layer_specs(graph: Graph, part: Partition, weight_bits: int) -> list[LayerSpec]:
    """LayerSpecs in topological order; a current-mode first LIF has no synapses (its input comes from the host)."""
    chip = set(part.names("chip"))
    specs = []
    for name in part.names("chip"):
        lif = graph.nodes[name]
        if not role(lif).spiking:
            continue
        synapses = []
        for src in lif.sources:
            if src not in chip:
                continue  # host-in layer: its output arrives as input current, not over synapses
            node = graph.nodes[src]
            synapses.append(replace(node.connection, source=graph.spiking_source(node.sources[0]), target=name))
        specs.append(LayerSpec(name, tuple(lif.shape), tuple(synapses), to_host=name in part.chip_outputs,
                               weight_bits=weight_bits))
    return specs
