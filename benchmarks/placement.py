"""Placement of the real networks' chip parts on each target: cores, chips, fullest limits, time.

    .venv/bin/python benchmarks/placement.py [--max-chips N] [--networks digits_cnn,resnet20,resnet19]

For every (network, target, conv axon encoding) prints the cores and chips `place` needs, the limit
that cuts each network hardest, and the time `place` takes (target: ResNet19 at CIFAR shape well
under 5 s), or the one-line DoesNotFitError. The chip part comes from the exporter's own graph
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
    for col in ("network", "target", "conv weights", "layers", "cores", "chips", "place s", "binding limits / error"):
        table.add_column(col, justify="left" if col in ("network", "binding limits / error") else "right")
    for arch in args.networks.split(","):
        for target in ("loihi", "loihi2"):
            base = load_profile(target)
            layers = chip_layers(arch, bool(base.target.graded_spikes.value), base.fixed_point.weight_bits.value)
            own = base.limits.conv_weight_storage.value
            for enc in (own, *(s for s in CONV_WEIGHT_STORAGES if s != own)):
                profile = with_storage(base, enc)
                t0 = time.perf_counter()
                try:
                    p = place(layers, profile, max_chips=args.max_chips)
                except DoesNotFitError as exc:
                    table.add_row(arch, target, enc, str(len(layers)), "—", "—",
                                  f"{time.perf_counter() - t0:.2f}", str(exc))
                    continue
                elapsed = time.perf_counter() - t0
                binding = Counter(layer.fullest_limit for layer in p.layers)
                table.add_row(arch, target, enc, str(len(layers)), f"{len(p.cores):,}", str(p.chips),
                              f"{elapsed:.2f}", ", ".join(f"{k} ×{n}" for k, n in binding.most_common()))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
