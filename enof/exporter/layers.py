"""The chip part as the placer sees it: one ``LayerSpec`` per chip LIF with its synapse groups.

``SYNAPSE_SPECS`` maps each weight node kind to the placer's description of its synapses: a new
synapse kind is one entry here.
"""

from __future__ import annotations

from enof.exporter.graph import ConvNode, DenseNode, Graph
from enof.exporter.partition import Partition, role
from enof.exporter.placement import ConvSynapses, DenseSynapses, LayerSpec


def _conv_synapses(node: ConvNode, source: str, weight_bits: int) -> ConvSynapses:
    return ConvSynapses(
        source, tuple(node.in_shape), tuple(node.weight.shape[2:]), tuple(node.stride), tuple(node.padding), weight_bits
    )


def _dense_synapses(node: DenseNode, source: str, weight_bits: int) -> DenseSynapses:
    return DenseSynapses(source, int(node.weight.shape[1]), weight_bits)


SYNAPSE_SPECS = {ConvNode: _conv_synapses, DenseNode: _dense_synapses}


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
            synapses.append(SYNAPSE_SPECS[type(node)](node, graph.spiking_source(node.sources[0]), weight_bits))
        specs.append(LayerSpec(name, tuple(lif.shape), tuple(synapses), to_host=name in part.chip_outputs))
    return specs
