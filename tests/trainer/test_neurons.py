"""The EnOF LIF: hand-computed traces, Norse equivalence, surrogate gradients, time folding."""

import pytest
import torch
from norse.torch.functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    lif_box_feed_forward_step,
)

from enof.trainer.neurons import LIF, NeuronConfig, RepActReLU, lif_step, lif_unroll, norse_lif_step, spike_fn

# The input is scaled by 1/(1 − decay) and multiplied back by dt·tau_mem_inv = 0.75 inside
# Norse's step: that costs about one float32 ulp (~6e-8 at 0.5), so 1e-6 is ample.
ATOL_V = 1e-6


def test_lif_trace_matches_hand_computed_sequence():
    # v_t = 0.25 · v_{t-1} · (1 − s_{t-1}) + I_t, s_t = [v_t > 0.5], reset to 0.
    currents = torch.tensor([0.375, 0.25, 0.5, 0.1, 0.6, -0.4, 0.3, 0.45])
    # t0: 0.375                  t1: 0.25·0.375 + 0.25 = 0.34375
    # t2: 0.25·0.34375 + 0.5 = 0.5859375 > 0.5 → spike, reset to 0
    # t3: 0 + 0.1 = 0.1          t4: 0.025 + 0.6 = 0.625 → spike, reset
    # t5: −0.4                   t6: −0.1 + 0.3 = 0.2
    # t7: 0.05 + 0.45 = 0.5: equal to the threshold, no spike (strict >)
    expected_spikes = [0, 0, 1, 0, 1, 0, 0, 0]
    expected_v_after_reset = [0.375, 0.34375, 0.0, 0.1, 0.0, -0.4, 0.2, 0.5]

    spikes, v = lif_unroll(currents, NeuronConfig())

    assert spikes.tolist() == expected_spikes
    torch.testing.assert_close(v, torch.tensor(expected_v_after_reset), atol=ATOL_V, rtol=0)


def test_lif_uses_configured_decay_and_threshold():
    neuron = NeuronConfig(decay=0.5, v_threshold=1.0)
    # t0: 0.8; t1: 0.4 + 0.7 = 1.1 → spike, reset; t2: 0 + 0.9 = 0.9; t3: 0.45 + 0.6 = 1.05 → spike
    spikes, v = lif_unroll(torch.tensor([0.8, 0.7, 0.9, 0.6]), neuron)
    assert spikes.tolist() == [0, 1, 0, 1]
    torch.testing.assert_close(v, torch.tensor([0.8, 0.0, 0.9, 0.0]), atol=ATOL_V, rtol=0)


def test_spike_is_strict_at_threshold():
    x = torch.tensor([-1e-3, 0.0, 1e-6])
    assert spike_fn(x, "rect", 1.0).tolist() == [0.0, 0.0, 1.0]
    assert spike_fn(x, "tanh", 1.0).tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_rect_surrogate_gradient_is_window_of_width_alpha(alpha):
    x = torch.tensor([-0.6, -0.3, -0.2, 0.0, 0.2, 0.24, 0.26, 0.3, 0.6], requires_grad=True)
    (grad,) = torch.autograd.grad(spike_fn(x, "rect", alpha).sum(), x)
    expected = (x.detach().abs() < alpha / 2).float() / alpha
    torch.testing.assert_close(grad, expected, atol=0, rtol=0)
    # Written out for alpha = 1: height 1 inside |x| < 0.5, zero outside.
    if alpha == 1.0:
        assert grad.tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 0]


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_tanh_surrogate_gradient_is_one_minus_tanh_squared(alpha):
    x = torch.linspace(-2.0, 2.0, 17, requires_grad=True)
    (grad,) = torch.autograd.grad(spike_fn(x, "tanh", alpha).sum(), x)
    expected = 1 - torch.tanh(alpha * x.detach()) ** 2
    torch.testing.assert_close(grad, expected, atol=1e-7, rtol=0)  # same float ops, rounding only


def test_gradient_flows_through_membrane_and_reset():
    # Rect surrogate, width 1. I = (0.3, 0.4): v0 = 0.3 (x0 = −0.2, g0 = 1), s0 = 0,
    # v0 after reset = (1 − s0)·v0 → d/dI0 = (1 − s0) − v0·g0 = 1 − 0.3 = 0.7.
    # v1 = 0.25·0.3 + 0.4 = 0.475 (x1 = −0.025, g1 = 1): ds1/dI0 = g1 · 0.25 · 0.7 = 0.175,
    # ds1/dI1 = g1 · 1 = 1 (the input gain 1/0.75 cancels dt·tau_mem_inv = 0.75).
    currents = torch.tensor([0.3, 0.4], requires_grad=True)
    spikes, _ = lif_unroll(currents, NeuronConfig(surrogate="rect"))
    (grad,) = torch.autograd.grad(spikes[1], currents)
    torch.testing.assert_close(grad, torch.tensor([0.175, 1.0]), atol=1e-6, rtol=0)


def test_tanh_lif_step_equals_norse_lif_box_step_in_values_and_gradients():
    torch.manual_seed(0)
    neuron = NeuronConfig(surrogate="tanh", surrogate_alpha=2.0)
    norse_params = LIFBoxParameters(
        tau_mem_inv=torch.tensor(1 - neuron.decay),
        v_leak=torch.tensor(0.0),
        v_th=torch.tensor(neuron.v_threshold),
        v_reset=torch.tensor(0.0),
        method="tanh",
        alpha=neuron.surrogate_alpha,
    )
    currents = torch.rand(6, 3, 5) - 0.2

    def run(step):
        x = currents.clone().requires_grad_(True)
        v = torch.zeros(3, 5)
        outputs = []
        for current in x:
            s, v = step(current, v)
            outputs.append(s)
        spikes = torch.stack(outputs)
        (spikes * torch.arange(1.0, 7.0).view(6, 1, 1)).sum().backward()
        return spikes, x.grad

    ours = run(lambda i, v: lif_step(i, v, neuron))

    def norse_step(i, v):
        s, state = lif_box_feed_forward_step(
            i / (1 - neuron.decay), LIFBoxFeedForwardState(v=v), norse_params, dt=1.0
        )
        return s, state.v

    theirs = run(norse_step)
    assert ours[0].sum() > 0, "the random input must make some spikes for this to test anything"
    assert torch.equal(ours[0], theirs[0])
    torch.testing.assert_close(ours[1], theirs[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("surrogate", ["rect", "tanh"])
def test_lif_step_is_norses_lif_box_step_bit_for_bit_in_values_and_gradients(surrogate):
    """The short form of the step (fewer tensor ops) keeps Norse's roundings exactly: equal spikes,
    voltages and input gradients over 8 steps of currents that fire about half the time."""
    neuron = NeuronConfig(surrogate=surrogate)
    torch.manual_seed(3)
    currents = torch.rand(8, 64, 9) * 0.9 - 0.1

    def run(step):
        x = currents.clone().requires_grad_(True)
        v, spikes, voltages = torch.zeros(64, 9), [], []
        for current in x:
            s, v = step(current, v, neuron)
            spikes.append(s)
            voltages.append(v)
        spikes, voltages = torch.stack(spikes), torch.stack(voltages)
        ((spikes + voltages) * torch.arange(1.0, 9.0).view(8, 1, 1)).sum().backward()
        return spikes, voltages, x.grad

    ours, theirs = run(lif_step), run(norse_lif_step)
    assert 0.2 < float(ours[0].detach().mean()) < 0.8
    for a, b in zip(ours, theirs):
        assert torch.equal(a, b)


def test_lif_module_unfolds_time_major_batch():
    # (T·B, N) must be read as T blocks of B samples: each sample's spikes depend only on its
    # own current sequence, exactly as lif_unroll computes it for that sample alone.
    torch.manual_seed(1)
    steps, batch, width = 4, 3, 7
    currents = torch.rand(steps, batch, width)
    out = LIF(steps)(currents.reshape(steps * batch, width))
    assert out.shape == (steps * batch, width)
    out = out.reshape(steps, batch, width)
    for b in range(batch):
        expected, _ = lif_unroll(currents[:, b], NeuronConfig())
        assert torch.equal(out[:, b], expected)
    assert out.sum() > 0


def test_lif_module_refuses_batch_not_multiple_of_timesteps():
    with pytest.raises(ValueError, match="T=4"):
        LIF(4)(torch.zeros(6, 2))


def test_neuron_config_validates_and_round_trips():
    config = NeuronConfig(decay=0.5, v_threshold=0.8, surrogate="tanh", surrogate_alpha=2.0)
    assert NeuronConfig.from_dict(config.to_dict()) == config
    assert config.dt_tau_mem_inv == 0.5 and config.input_gain == 2.0
    with pytest.raises(ValueError, match="surrogate"):
        NeuronConfig(surrogate="sigmoid")
    with pytest.raises(ValueError, match="decay"):
        NeuronConfig(decay=1.0)


def test_repact_relu_is_a_relu():
    x = torch.tensor([-1.0, 0.0, 2.5])
    assert isinstance(RepActReLU(), torch.nn.ReLU)
    assert RepActReLU()(x).tolist() == [0.0, 0.0, 2.5]
