"""Placement of the real networks' chip parts on each target: cores, chips, fullest limits, time.

    .venv/bin/python benchmarks/placement.py [--max-chips N] [--networks digits_cnn,resnet20,resnet19]

For every (network, target, conv axon encoding) prints the cores and chips `place` needs, the limit
that cuts each network hardest, the time the exporter's graph capture + partition + layer_specs take
and the time `place` takes (target: ResNet19's export + placement ≤ 5 s), or the one-line
DoesNotFitError. A second table places the published deployments of published_networks.py
(lava-dl PilotNet, the nengo-loihi CIFAR-10 example) beside their published core counts. The chip part comes from the exporter's own graph
capture, partition and layer_specs (random weights: placement does not depend on their values).
Each target is placed under every conv weight storage (the profile's own first): "population"
(nengo-loihi: population axons, shared weight sets), "kernel_per_core" (one kernel copy per core, as
lava-dl's PilotNet on Loihi 2 shows) and "discrete" (one axon and weight set per presynaptic neuron).
Cores hold tiles (placement.json v3). Never run by pytest.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter

import torch
from rich.console import Console
from rich.table import Table

import enof  # noqa: F401
from enof.errors import DoesNotFitError
from enof.exporter.graph import NeuronParams, capture
from enof.exporter.layers import layer_specs
from enof.exporter.partition import partition
from enof.exporter.placement import place
from enof.hardware_profiles import CONV_WEIGHT_STORAGES, load_profile
from enof.trainer.models import build_model
from published_networks import PUBLISHED

NETWORKS = {"digits_cnn": ((1, 8, 8), 10), "resnet20": ((3, 32, 32), 10), "resnet19": ((3, 32, 32), 10)}


def chip_layers(arch: str, graded_spikes: bool, weight_bits: int):
    shape, classes = NETWORKS[arch]
    torch.manual_seed(0)
    model = build_model(arch, repact=True, timesteps=1, num_classes=classes)
    graph = capture(model, shape, 1, NeuronParams())
    return layer_specs(graph, partition(graph, graded_spikes=graded_spikes), weight_bits)


def with_storage(profile, storage: str):
    lim = profile.limits
    field = dataclasses.replace(lim.conv_weight_storage, value=storage)
    return dataclasses.replace(profile, limits=dataclasses.replace(lim, conv_weight_storage=field))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-chips", type=int, default=None, help="override the profiles' max_chips")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = Table(title="place(): chip layers → cores → chips")
    for col in ("network", "target", "conv weights", "layers", "cores", "chips", "layers s", "place s",
                "binding limits / error"):
        table.add_column(col, justify="left" if col in ("network", "binding limits / error") else "right")
    for arch in args.networks.split(","):
        for target in ("loihi", "loihi2"):
            base = load_profile(target)
            t0 = time.perf_counter()
            layers = chip_layers(arch, bool(base.target.graded_spikes.value), base.fixed_point.weight_bits.value)
            layers_s = f"{time.perf_counter() - t0:.2f}"
            own = base.limits.conv_weight_storage.value
            for enc in (own, *(s for s in CONV_WEIGHT_STORAGES if s != own)):
                profile = with_storage(base, enc)
                t0 = time.perf_counter()
                try:
                    p = place(layers, profile, max_chips=args.max_chips)
                except DoesNotFitError as exc:
                    table.add_row(arch, target, enc, str(len(layers)), "—", "—", layers_s,
                                  f"{time.perf_counter() - t0:.2f}", str(exc))
                    continue
                elapsed = time.perf_counter() - t0
                binding = Counter(layer.fullest_limit for layer in p.layers)
                table.add_row(arch, target, enc, str(len(layers)), f"{len(p.cores):,}", str(p.chips), layers_s,
                              f"{elapsed:.2f}", ", ".join(f"{k} ×{n}" for k, n in binding.most_common()))
    Console(width=200).print(table)
    Console(width=200).print(published_table())


def published_table() -> Table:
    """enof's cores for each published deployment beside the published count, under the target's own profile."""
    table = Table(title="Published deployments, rebuilt as enof chip layers")
    for col in ("network", "target", "neurons", "enof cores", "published cores", "enof / published", "binding limits",
                "published: source"):
        table.add_column(col, justify="right" if col in ("neurons", "enof cores", "published cores",
                                                         "enof / published") else "left")
    for pub in PUBLISHED:
        if pub.layers is None:
            table.add_row(pub.name, pub.target, "—", "—", str(pub.cores), "—", pub.note, pub.source)
            continue
        layers = pub.layers()
        p = place(layers, load_profile(pub.target))
        binding = Counter(layer.fullest_limit for layer in p.layers)
        table.add_row(pub.name, pub.target, f"{sum(layer.neurons for layer in layers):,}", str(len(p.cores)),
                      str(pub.cores), f"{len(p.cores) / pub.cores:.2f}",
                      ", ".join(f"{k} ×{n}" for k, n in binding.most_common()), pub.source)
    return table


if __name__ == "__main__":
    main()
