"""enof.lif: the one float LIF step of the trainer, the exporter's replay and the built-in simulator."""

from __future__ import annotations

import torch

from enof.exporter.replay import lif_sequence
from enof.lif import heaviside, lif_step
from enof.runtime.fast.float_point import lif_float_step
from enof.trainer.neurons import NeuronConfig, lif_unroll


def test_lif_step_is_pure_and_the_spike_function_gets_a_temporary():
    v, current = torch.tensor([0.1, 0.4, -0.2]), torch.tensor([0.5, 0.2, 0.1])
    before = (v.clone(), current.clone())
    seen = []
    spikes, v_next = lif_step(v, current, decay=0.25, v_threshold=0.5, spike=lambda x: seen.append(x) or heaviside(x))
    assert torch.equal(v, before[0]) and torch.equal(current, before[1])  # no argument modified
    assert all(x is not v and x is not current for x in seen)
    # v = 0.25·v + I: 0.525 (spikes, reset to 0), 0.3, 0.05
    assert spikes.tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(v_next, torch.tensor([0.0, 0.3, 0.05]), rtol=0, atol=1e-7)


def test_replay_and_simulator_compute_the_trainers_lif_bit_for_bit():
    # One arithmetic in three callers: exact equality, not a tolerance.
    torch.manual_seed(0)
    currents = torch.randn(6, 4, 3, 5, 5) * 0.6
    neuron = NeuronConfig(decay=0.25, v_threshold=0.5)
    trained, _ = lif_unroll(currents, neuron, keep_voltages=False)
    assert torch.equal(lif_sequence(currents, 0.25, 0.5), trained)
    v, simulated = torch.zeros_like(currents[0]), []
    for current in currents:
        v, s = lif_float_step(v, current, decay=0.25, v_threshold=0.5, bias=0.0)
        simulated.append(s)
    assert torch.equal(torch.stack(simulated), trained)
    assert 0.1 < float(trained.mean()) < 0.9  # neurons fire and rest: the comparison is informative


def test_replay_probe_keeps_the_peak_membrane_before_reset_and_the_peak_input():
    currents = torch.tensor([[0.6], [0.1], [-0.3]])  # v: 0.6 (spike → 0), 0.1, −0.275
    probe: dict = {}
    spikes = lif_sequence(currents, 0.25, 0.5, probe)
    assert spikes.flatten().tolist() == [1.0, 0.0, 0.0]
    assert abs(probe["v_max"] - 0.6) < 1e-7 and abs(probe["current_max"] - 0.6) < 1e-7
