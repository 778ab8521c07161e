"""chip.nir: read back with nir's type checks, LIF parameters exact for the discrete model, and
re-run through an importer we did not write (Norse's from_nir on nirtorch)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from enof.exporter.graph import capture
from enof.exporter.partition import partition
from enof.exporter.quantize import lif_bias_float
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
    assert set(type(n).__name__ for n in graph.nodes.values()) <= {"Input", "Output", "Conv2d", "Linear", "LIF", "Flatten"}
    assert set(graph.nodes) == {"input", "output", *part.names("chip")}
    dt_s = float(graph.metadata["dt_s"])
    assert graph.metadata["reset"] in ("zero", b"zero")
    for name in part.names("chip"):
        node = graph.nodes[name]
        if isinstance(node, nir.LIF):
            # One Euler step of tau·dv/dt = (v_leak − v) + r·I: v + dt/tau·(−v + r·I) must be 0.25·v + I.
            v, current = np.float64(0.8), np.float64(0.3)
            step = v + dt_s / node.tau.astype(np.float64) * (node.v_leak - v + node.r.astype(np.float64) * current)
            assert np.allclose(step, 0.25 * v + current, rtol=1e-6)  # float32 tau/r: 1e-7 relative each
            assert np.all(node.v_threshold == 0.5) and np.all(node.v_reset == 0)
        if isinstance(node, nir.Conv2d):
            assert node.input_shape is not None and not node.bias.any()  # bias moved into the LIF
    if not graded:  # current mode: the host-in current enters the first LIF directly
        assert ("input", part.current_target) in [tuple(e) for e in graph.edges]


def _norse_chip_run(graph: nir.NIRGraph, chip_graph_enof, part, x_time_major: torch.Tensor) -> torch.Tensor:
    """Run chip.nir through norse.torch.from_nir, one call per time step (nirtorch carries the state).

    Two documented compensations, both about Norse, not the file: Norse's LIFBox importer ignores
    NIR's ``r`` (it logs a warning) so we fold r into the weights feeding each LIF, and NIR LIF has
    no bias so the LIF's ``bias_float`` is put on one conv feeding it.
    """
    import norse.torch

    for name, node in graph.nodes.items():
        if isinstance(node, nir.LIF):
            r = float(node.r.flat[0])
            feeding = [s for s, d in graph.edges if d == name]
            bias = lif_bias_float(chip_graph_enof, chip_graph_enof.nodes[name], feeding) * r
            for i, src in enumerate(feeding):
                graph.nodes[src].weight = graph.nodes[src].weight * r
                if i == 0:
                    graph.nodes[src].bias = bias[:, 0, 0].astype(np.float32)
            node.r = np.ones_like(node.r)
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
        theirs = _norse_chip_run(nir.read(str(tmp_path / "chip.nir")), digits_graph, part, x)
    assert ours.sum() > 0.02 * ours.numel()  # the comparison means something only if neurons fire
    # Norse computes v + 0.75·(−v + r·I) where we compute 0.25·v + I: equal up to float32 rounding
    # (~1e-7); a spike flips only when v lands within that of the threshold, which these inputs never do.
    assert torch.equal(theirs, ours)


def test_norse_without_r_compensation_differs(digits_graph, digits_test_inputs, tmp_path):
    """Why the compensation above exists: Norse's importer drops NIR's r = 1/(1 − decay)."""
    import norse.torch

    part = partition(digits_graph, graded_spikes=True)
    write_chip_nir(chip_graph(digits_graph, part), tmp_path / "chip.nir")
    graph = nir.read(str(tmp_path / "chip.nir"))
    module = norse.torch.from_nir(graph, dt=float(graph.metadata["dt_s"]), ignore_warnings=True)
    x = repeat_over_time(digits_test_inputs, T)
    with torch.no_grad():
        ours = Replay(digits_graph, part.names("chip"), ["input"], part.chip_outputs)(x)
        state, outs = None, []
        for step in x:
            out, state = module(step, state)
            outs.append(out)
    assert not torch.equal(torch.stack(outs), ours)


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
    assert isinstance(read.nodes["flatten1"], nir.Flatten) and isinstance(read.nodes["fc1"], nir.Linear)
    assert list(read.nodes["flatten1"].output_type["output"]) == [256]
    assert ("act1", "flatten1") in [tuple(e) for e in read.edges]
