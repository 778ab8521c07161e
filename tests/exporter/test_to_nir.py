"""chip.nir: read back with nir's type checks, LIF parameters exact for the discrete model, weights and
biases carried with the input gain folded in, and re-run unchanged through an importer we did not
write (Norse's from_nir on nirtorch; tests/interop/ runs snnTorch and Sinabs on whole bundles)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from enof.exporter.graph import capture
from enof.exporter.partition import partition
from enof.exporter.replay import Replay
from enof.exporter.to_nir import chip_graph, write_chip_nir
from enof.trainer.models import repeat_over_time

T = 4


@pytest.fixture(scope="module")
def digits_graph(model_factory):
    return capture(model_factory("digits_cnn", repact=True, timesteps=T, width=8), (1, 8, 8), T)


@pytest.mark.parametrize("graded", [True, False])
def test_chip_nir_reads_back_with_type_checks_and_exact_lif_parameters(digits_graph, tmp_path, graded):
    part = partition(digits_graph, graded_spikes=graded)
    path = tmp_path / "chip.nir"
    write_chip_nir(chip_graph(digits_graph, part), path)
    graph = nir.read(str(path), type_check=True)  # runs NIRGraph.infer_types + check_types
    assert set(type(n).__name__ for n in graph.nodes.values()) <= {"Input", "Output", "Conv2d", "Affine", "LIF", "Flatten"}
    assert set(graph.nodes) == {"input", "output", *part.names("chip")}
    dt_s = float(graph.metadata["dt_s"])
    assert dt_s == 1e-4  # snnTorch's importer assumes it
    assert graph.metadata["reset"] in ("zero", b"zero")
    assert graph.metadata["discretization"] in ("forward-euler", b"forward-euler")
    for name in part.names("chip"):
        node = graph.nodes[name]
        if isinstance(node, nir.LIF):
            # One Euler step of tau·dv/dt = (v_leak − v) + r·I with r = 1 and I the folded input
            # I/(1 − decay): v + dt/tau·(−v + I/0.75) must be 0.25·v + I.
            v, current = np.float64(0.8), np.float64(0.3)
            step = v + dt_s / node.tau.astype(np.float64) * (node.v_leak - v + node.r.astype(np.float64) * current / 0.75)
            assert np.allclose(step, 0.25 * v + current, rtol=1e-6)  # float32 tau: 6e-8 relative
            assert np.all(node.r == 1) and np.all(node.v_reset == 0) and np.all(node.v_leak == 0)
            # the current-fed LIF gets the host-in current unscaled: its threshold carries the 0.75
            assert np.all(node.v_threshold == (0.375 if name == part.current_target else 0.5))
        if isinstance(node, nir.Conv2d):
            trained = digits_graph.nodes[name]
            assert node.input_shape is not None
            # weight and BN-folded bias, times 1/(1 − decay): float32 rounding of the product only
            np.testing.assert_allclose(node.weight, trained.weight / 0.75, rtol=1e-6)
            np.testing.assert_allclose(node.bias, trained.bias / 0.75, rtol=1e-6)
            assert np.abs(node.bias).max() > 0.01  # the bias is really there
    if not graded:  # current mode: the host-in current enters the first LIF directly
        assert ("input", part.current_target) in [tuple(e) for e in graph.edges]


def _norse_chip_run(graph: nir.NIRGraph, x_time_major: torch.Tensor) -> torch.Tensor:
    """Run chip.nir, unchanged, through norse.torch.from_nir, one call per time step (nirtorch carries the state)."""
    import norse.torch

    module = norse.torch.from_nir(graph, dt=float(graph.metadata["dt_s"]))
    state, outputs = None, []
    for step in x_time_major:
        out, state = module(step, state)
        outputs.append(out)
    return torch.stack(outputs)


def test_norse_from_nir_reproduces_the_chip_parts_spikes_on_digits(digits_graph, digits_test_inputs, tmp_path):
    part = partition(digits_graph, graded_spikes=True)
    write_chip_nir(chip_graph(digits_graph, part), tmp_path / "chip.nir")
    x = repeat_over_time(digits_test_inputs, T)
    with torch.no_grad():
        ours = Replay(digits_graph, part.names("chip"), ["input"], part.chip_outputs)(x)
        theirs = _norse_chip_run(nir.read(str(tmp_path / "chip.nir")), x)
    assert ours.sum() > 0.02 * ours.numel()  # the comparison means something only if neurons fire
    # Norse computes v + 0.75·(−v + I/0.75) from float32 weights W/0.75 where we compute 0.25·v + I:
    # equal up to float32 rounding (~1e-7 relative); a spike flips only when v lands within that of the
    # threshold, which these inputs never do.
    assert torch.equal(theirs, ours)


def test_flatten_between_spiking_layers_is_a_typed_nir_flatten(tmp_path):
    from torch import nn

    from enof.trainer.models import EnofNet
    from enof.trainer.neurons import LIF, NeuronConfig

    backbone = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), LIF(2), nn.Flatten(), nn.Linear(256, 32), LIF(2))
    model = EnofNet(backbone, 32, 10, arch="mlp", mode="snn", repact=False, timesteps=2, neuron=NeuronConfig())
    model.pool = nn.Identity()
    graph = capture(model.eval(), (1, 8, 8), 2)
    part = partition(graph, graded_spikes=True)
    write_chip_nir(chip_graph(graph, part), tmp_path / "chip.nir")
    read = nir.read(str(tmp_path / "chip.nir"), type_check=True)
    assert isinstance(read.nodes["flatten1"], nir.Flatten) and isinstance(read.nodes["fc1"], nir.Affine)
    assert list(read.nodes["flatten1"].output_type["output"]) == [256]
    assert ("act1", "flatten1") in [tuple(e) for e in read.edges]
