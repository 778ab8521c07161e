"""Published Loihi deployments rebuilt as enof chip layers (benchmarks/published_networks.py): enof's core
count beside the published one, and the cause of the remaining PilotNet gap held as a number."""

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from enof.exporter.placement import place
from enof.hardware_profiles import load_profile

_SPEC = importlib.util.spec_from_file_location(
    "published_networks", Path(__file__).parents[2] / "benchmarks" / "published_networks.py")
published = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("published_networks", published)  # dataclasses resolve their module by name
_SPEC.loader.exec_module(published)


def _with_neurons_per_core(profile, n: int):
    lim = profile.limits
    return dataclasses.replace(profile, limits=dataclasses.replace(
        lim, neurons_per_core=dataclasses.replace(lim.neurons_per_core, value=n)))


def test_pilotnet_layers_have_the_shapes_lava_dl_netx_prints():
    # netx's table (W x H x C): 99x32x24, 49x15x36, 24x7x48, 22x4x64, 20x2x64, then 100, 50, 10, 1
    shapes = [layer.shape for layer in published.pilotnet_snn()]
    assert shapes == [(3, 66, 200), (24, 32, 99), (36, 15, 49), (48, 7, 24), (64, 4, 22), (64, 2, 20),
                      (100,), (50,), (10,), (1,)]


def test_pilotnet_on_loihi2_takes_fewer_cores_than_published_and_the_neuron_cap_explains_the_gap():
    loihi2 = load_profile("loihi2")
    own = place(published.pilotnet_snn(), loihi2)
    # the profile's 8192 neurons per core (second-hand) packs PilotNet into 33 cores, under half of the 74
    # lava-dl reports: the Loihi 2 compiler's conv cores hold at most 3,168 neurons (its per-core table)
    assert len(own.cores) < 74 and own.chips == 1
    capped = place(published.pilotnet_snn(), _with_neurons_per_core(loihi2, 3168))
    assert abs(len(capped.cores) - 74) <= 0.25 * 74, len(capped.cores)  # the target: within 25%


def test_nengo_loihi_cifar10_example_fits_one_loihi_chip_in_no_more_cores_than_published():
    layers = published.nengo_loihi_cifar10()
    assert sum(layer.neurons for layer in layers) == 47_404  # the example prints 47k on-chip neurons
    p = place(layers, load_profile("loihi"))
    # nengo-loihi's hand-chosen block shapes take 90 cores; enof chooses per layer under the same four limits
    assert p.chips == 1 and len(p.cores) <= 90
    assert all(max(c.utilization.values()) <= 1.0 for c in p.cores)


@pytest.mark.parametrize("entry", [p for p in published.PUBLISHED if p.layers is None], ids=lambda p: p.name)
def test_deployments_enof_cannot_build_say_why(entry):
    assert entry.cores and entry.note.startswith("not built: ")
