"""Published Loihi deployments rebuilt as enof chip layers (placement does not depend on weight values).

Each entry: the chip layers as enof's placer sees them, the target, the published core count and where
it comes from. `benchmarks/placement.py` places them beside the published figures; the PilotNet target
(within 25% of 74 Loihi-2 cores) is held in tests/exporter/test_placement_published.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from enof.exporter.placement import HOST, LayerSpec, conv_synapses, dense_synapses


@dataclass(frozen=True)
class Published:
    name: str
    target: str
    cores: int | None  # None: the deployment is published, its layers are not in a source we read
    source: str
    layers: Callable[[], list[LayerSpec]] | None
    note: str = ""


def _conv(name, source, in_shape, out_c, kernel, stride=(1, 1), padding=(0, 0)) -> LayerSpec:
    syn = conv_synapses(source, in_shape, out_c, kernel, stride, padding)
    return LayerSpec(name, syn.target_shape, (syn,))


def pilotnet_snn() -> list[LayerSpec]:
    """lava-dl netx PilotNet LIF (tutorials/lava/lib/dl/netx/pilotnet_snn/network.net as netx prints it):
    an on-chip input layer 200×66×3 driven by the host, convs 3×3 24/36/48 stride 2, 64 stride (H 2, W 1)
    with H padding 1, 64 stride 1, dense 100, 50, 10, 1 (the last read by the host). (C, H, W) here."""
    layers = [LayerSpec("input_layer", (3, 66, 200))]
    spec = (("conv1", 24, (2, 2), (0, 0)), ("conv2", 36, (2, 2), (0, 0)), ("conv3", 48, (2, 2), (0, 0)),
            ("conv4", 64, (2, 1), (1, 0)), ("conv5", 64, (1, 1), (0, 0)))
    for name, out_c, stride, padding in spec:
        prev = layers[-1]
        layers.append(_conv(name, prev.name, prev.shape, out_c, (3, 3), stride, padding))
    for i, n in enumerate((100, 50, 10, 1), start=1):
        prev = layers[-1]
        layers.append(LayerSpec(f"fc{i}", (n,), (dense_synapses(prev.name, prev.neurons, (n,)),), to_host=n == 1))
    return layers


def nengo_loihi_cifar10() -> list[LayerSpec]:
    """nengo-loihi docs/examples/cifar10-convnet.ipynb (commit 1cc043f4) layer_confs: the 1×1, 4-filter input
    layer runs on the host and sends spikes (32×32×4); on chip: 3×3/2 64, 3×3 72, 3×3/2 256, 1×1 256,
    1×1 64 ("valid"), dense 100 read by the host (the 10-way output layer is off chip). 47,404 neurons."""
    layers: list[LayerSpec] = []
    prev_name, prev_shape = HOST, (4, 32, 32)
    for name, out_c, k, s in (("conv1", 64, 3, 2), ("conv2", 72, 3, 1), ("conv3", 256, 3, 2), ("conv4", 256, 1, 1),
                              ("conv5", 64, 1, 1)):
        layers.append(_conv(name, prev_name, prev_shape, out_c, (k, k), (s, s)))
        prev_name, prev_shape = name, layers[-1].shape
    layers.append(LayerSpec("dense", (100,), (dense_synapses("conv5", layers[-1].neurons, (100,)),), to_host=True))
    return layers


PUBLISHED = (
    Published("lava-dl PilotNet SNN", "loihi2", 74,
              "lava-dl tutorials/lava/lib/dl/netx/pilotnet_snn benchmark notebook output: 74 cores, 1 chip",
              pilotnet_snn),
    Published("nengo-loihi CIFAR-10 example", "loihi", 90,
              "nengo-loihi v1.0.0 docs, examples/cifar10-convnet: 90 cores, 1 chip (hand-chosen block shapes)",
              nengo_loihi_cifar10),
    Published("NxTF 4-layer MNIST CNN", "loihi", 14,
              "Rueckauer et al. 2022 (NxTF), second-hand: 14 cores, 0.66 mJ, 99.21%", None,
              "not built: its layer sizes are not in a source we read (NxSDK is proprietary)"),
)
