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
    spikes, v_next = lif_step(current, v, decay=0.25, v_threshold=0.5, spike=lambda x: seen.append(x) or heaviside(x))
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
        s, v = lif_float_step(current, v, decay=0.25, v_threshold=0.5, bias=0.0)
        simulated.append(s)
    assert torch.equal(torch.stack(simulated), trained)
    assert 0.1 < float(trained.mean()) < 0.9  # neurons fire and rest: the comparison is informative


def test_replay_probe_keeps_the_peak_membrane_before_reset_and_the_peak_input():
    currents = torch.tensor([[0.6], [0.1], [-0.3]])  # v: 0.6 (spike → 0), 0.1, −0.275
    probe: dict = {}
    spikes = lif_sequence(currents, 0.25, 0.5, probe)
    assert spikes.flatten().tolist() == [1.0, 0.0, 0.0]
    assert abs(probe["v_max"] - 0.6) < 1e-7 and abs(probe["current_max"] - 0.6) < 1e-7


def test_every_lif_step_takes_input_then_state_and_returns_spikes_then_state():
    """One signature for the LIF steps (Norse's order): (input, state...) → (spikes, state...). On a current that
    crosses the threshold in one neuron and not the other, the first output is the spikes, [1, 0], in each."""
    import inspect

    from enof.lava_arithmetic import lif_fixed_step, lif_fixed_step_no_wrap
    from enof.trainer.neurons import lif_step as trainer_lif_step

    first_params = {f.__name__ + "@" + f.__module__: next(iter(inspect.signature(f).parameters))
                    for f in (lif_step, lif_float_step, lif_fixed_step, lif_fixed_step_no_wrap, trainer_lif_step)}
    assert set(first_params.values()) <= {"current", "a_in"}, first_params
    current, v = torch.tensor([0.6, 0.2]), torch.zeros(2)
    assert lif_step(current, v, decay=0.25, v_threshold=0.5, spike=heaviside)[0].tolist() == [1.0, 0.0]
    assert lif_float_step(current, v, decay=0.25, v_threshold=0.5, bias=0.0)[0].tolist() == [1.0, 0.0]
    assert trainer_lif_step(current, v, NeuronConfig(decay=0.25, v_threshold=0.5))[0].tolist() == [1.0, 0.0]
    # fixed point: a_in 100 → v = 100 << 6 = 6400 > vth 50 << 6 = 3200 spikes; a_in 10 → 640 does not
    a_in, zero = torch.tensor([100, 10], dtype=torch.int64), torch.zeros(2, dtype=torch.int64)
    spikes, u, v_fixed = lif_fixed_step(a_in, zero, zero, du=4095, dv=3072, vth=50, bias=0)
    assert spikes.tolist() == [1, 0] and u.tolist() == [6400, 640] and v_fixed.tolist() == [0, 640]
    spikes, v_fixed = lif_fixed_step_no_wrap(a_in.double(), zero.double(), dv=3072, vth=50, bias=0)
    assert spikes.tolist() == [1.0, 0.0] and v_fixed.tolist() == [0.0, 640.0]
