"""The chip part as the placer sees it: one ``LayerSpec`` per chip LIF with its synapse groups."""

from __future__ import annotations

from enof.exporter.graph import ConvNode, DenseNode, Graph, LifNode
from enof.exporter.partition import Partition


def layer_specs(graph: Graph, part: Partition, weight_bits: int) -> list:
    """LayerSpecs in topological order; a current-mode first LIF has no synapses (its input comes from the host)."""
    from enof.exporter.placement import ConvSynapses, DenseSynapses, LayerSpec

    chip = set(part.names("chip"))
    specs = []
    for name in part.names("chip"):
        lif = graph.nodes[name]
        if not isinstance(lif, LifNode):
            continue
        synapses = []
        for src in lif.sources:
            if src not in chip:
                continue  # host-in layer: its output arrives as input current, not over synapses
            node = graph.nodes[src]
            source = graph.spiking_source(node.sources[0])
            if isinstance(node, ConvNode):
                synapses.append(ConvSynapses(
                    source, tuple(node.in_shape), tuple(node.weight.shape[2:]), tuple(node.stride),
                    tuple(node.padding), weight_bits,
                ))  # fmt: skip
            elif isinstance(node, DenseNode):
                synapses.append(DenseSynapses(source, int(node.weight.shape[1]), weight_bits))
        specs.append(LayerSpec(name, tuple(lif.shape), tuple(synapses), to_host=name in part.chip_outputs))
    return specs
