"""Partition (issue 3): the RepAct cut, the host-in layer on targets without graded spikes, chip outputs."""

from __future__ import annotations

import pytest
from torch import nn

from enof.errors import UnsupportedModuleError
from enof.exporter.graph import capture
from enof.exporter.partition import partition

DIGITS = (1, 8, 8)


def _where(part):
    return {e.node: e.where for e in part.entries}


def test_digits_repact_on_loihi2_puts_the_first_conv_on_chip_and_the_last_conv_on_the_host(model_factory):
    graph = capture(model_factory("digits_cnn", repact=True, width=4), DIGITS, 2)
    part = partition(graph, graded_spikes=True)
    assert _where(part) == {
        "conv1": "chip", "act1": "chip",  # pixels enter as graded spikes
        "conv2": "chip", "act2": "chip",
        "conv3": "host_out", "act3": "host_out",  # conv feeding the RepAct ReLU, the ReLU
        "pool": "host_out", "fc": "host_out",
    }  # fmt: skip
    assert part.chip_outputs == ["act2"] and part.input_mode == "graded" and part.current_target is None


def test_digits_without_repact_on_loihi_puts_only_pool_and_fc_on_the_host_and_the_first_conv_on_host_in(model_factory):
    graph = capture(model_factory("digits_cnn", repact=False, width=4), DIGITS, 2)
    part = partition(graph, graded_spikes=False)
    where = _where(part)
    assert where["conv1"] == "host_in" and part.current_target == "act1"
    assert where["conv3"] == "chip" and where["act3"] == "chip"
    assert part.names("host_out") == ["pool", "fc"] and part.chip_outputs == ["act3"]
    assert part.input_mode == "current"


def test_resnet_repact_cut_takes_the_last_blocks_conv2_and_shortcut_and_sends_two_spike_tensors(model_factory):
    graph = capture(model_factory("resnet19", repact=True, timesteps=1), (3, 32, 32), 1)
    part = partition(graph, graded_spikes=True)
    assert part.names("host_out") == [
        "stage3.block1.conv2", "stage3.block1.shortcut", "stage3.block1.act2", "pool", "fc"
    ]
    # conv2 reads the block's act1; the identity shortcut reads the previous block's output
    assert part.chip_outputs == ["stage3.block0.act2", "stage3.block1.act1"]
    assert _where(part)["stage3.block1.conv1"] == "chip"


def test_a_lif_after_a_relu_is_refused(model_factory):
    model = model_factory("digits_cnn", repact=False, width=4)
    model.backbone[2] = nn.ReLU()  # a ReLU in the middle: its graded output would feed spiking layers
    graph = capture(model, DIGITS, 2)
    with pytest.raises(UnsupportedModuleError, match=r"act2: a LIF after the ReLU act1"):
        partition(graph, graded_spikes=True)
