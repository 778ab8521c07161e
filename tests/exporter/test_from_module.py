"""Module capture (enof.exporter.from_module): each library's parameters in its own conventions, and every
layer the chip cannot run refused by its module path with what to change."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

import enof
from enof.errors import EnofError, UnsupportedModuleError
from enof.exporter.from_module import module_to_nir


def _leaky(beta=0.8, **kw):
    import snntorch

    return snntorch.Leaky(beta=beta, init_hidden=True, **{"reset_mechanism": "zero", **kw})


def test_snntorch_beta_is_written_in_snntorchs_own_nir_convention():
    """Leaky(β): tau = dt/(1 − β), r = 1/(1 − β), so one Euler step is β·v + I."""
    graph = module_to_nir(nn.Sequential(nn.Linear(4, 3), _leaky(0.75, threshold=0.4)), (4,))
    lif, dt = graph.nodes["1"], graph.metadata["dt_s"]
    assert isinstance(lif, nir.LIF) and graph.metadata["reset"] == "zero"
    np.testing.assert_allclose(1 - dt / lif.tau, 0.75, rtol=1e-6)
    np.testing.assert_allclose(lif.r * dt / lif.tau, 1.0, rtol=1e-6)
    np.testing.assert_allclose(lif.v_threshold, 0.4, rtol=1e-6)


def test_norse_tau_mem_inv_runs_at_the_modules_own_dt():
    import norse.torch as norse

    cell = norse.LIFBoxCell(norse.LIFBoxParameters(tau_mem_inv=torch.tensor(250.0)), dt=2e-3)
    graph = module_to_nir(norse.SequentialState(nn.Linear(4, 3), cell), (4,))
    assert graph.metadata["dt_s"] == 2e-3
    np.testing.assert_allclose(graph.metadata["dt_s"] / graph.nodes["1"].tau, 0.5, rtol=1e-6)  # dt·tau_mem_inv
    with pytest.raises(UnsupportedModuleError, match=r"1: Norse dt = 0.002 but dt_s = 0.001"):
        module_to_nir(norse.SequentialState(nn.Linear(4, 3), cell), (4,), dt_s=1e-3)


def test_spikingjelly_decay_input_sets_the_input_gain():
    """LIFNode(tau=4): decay 1 − 1/4; the input gain is 1/4 with decay_input, 1 without."""
    from spikingjelly.activation_based import neuron

    for decay_input, gain in ((True, 0.25), (False, 1.0)):
        graph = module_to_nir(nn.Sequential(nn.Linear(4, 3), neuron.LIFNode(tau=4.0, decay_input=decay_input)), (4,))
        step = graph.metadata["dt_s"] / graph.nodes["1"].tau
        np.testing.assert_allclose(1 - step, 0.75, rtol=1e-6)
        np.testing.assert_allclose(graph.nodes["1"].r * step, gain, rtol=1e-6)


def test_batchnorm_folds_into_the_weight_layer_before_it():
    torch.manual_seed(0)
    linear, bn = nn.Linear(5, 3), nn.BatchNorm1d(3)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.uniform_(0.5, 2), bn.bias.uniform_(-1, 1)
    graph = module_to_nir(nn.Sequential(linear, bn, _leaky()), (5,))
    x = torch.randn(7, 5)
    expected = bn.eval()(linear(x)).detach().numpy()
    affine = graph.nodes["0"]
    np.testing.assert_allclose(x.numpy() @ affine.weight.T + affine.bias, expected, rtol=1e-5, atol=1e-5)


def _snntorch_recurrent():
    import snntorch

    return snntorch.RLeaky(beta=0.8, linear_features=3, reset_mechanism="zero", init_hidden=True)


def _sj_soft_reset():
    from spikingjelly.activation_based import neuron

    return neuron.LIFNode(tau=2.0, v_reset=None)


def _norse_slow_synapse():
    import norse.torch as norse

    return norse.LIFCell()  # tau_syn_inv 200/s at dt 1 ms: dt·tau_syn_inv = 0.2


@pytest.mark.parametrize(
    "layers, shape, fragments",
    [
        (lambda: [nn.Linear(4, 3), _leaky(reset_mechanism="subtract")], (4,), ["1: snntorch.Leaky(reset_mechanism='subtract')", "reset_mechanism='zero'"]),
        (lambda: [nn.Linear(4, 3), _snntorch_recurrent()], (4,), ["1: snntorch", "RLeaky is not supported — recurrent"]),
        (lambda: [nn.Linear(4, 3), _sj_soft_reset()], (4,), ["1: spikingjelly LIFNode(v_reset=None) resets by subtraction", "v_reset=0.0"]),
        (lambda: [nn.Linear(4, 3), _norse_slow_synapse()], (4,), ["1: norse LIFCell with dt·tau_syn_inv = 0.2", "tau_syn_inv = 1/dt (1000)"]),
        (lambda: [nn.Conv2d(1, 2, 3), nn.MaxPool2d(2)], (1, 6, 6), ["1: torch.nn.modules.pooling.MaxPool2d is not supported", "use AvgPool2d"]),
        (lambda: [nn.Conv2d(3, 2, 3), _leaky()], (1, 6, 6), ["0: Conv2d takes 3 channels, the sample has shape (1, 6, 6)", "input_shape"]),
        (lambda: [nn.Conv2d(1, 2, 3), _leaky(), nn.Linear(32, 3)], (1, 6, 6), ["2: Linear takes 32 features", "nn.Flatten()"]),
        (lambda: [nn.Linear(4, 3), _leaky(), nn.BatchNorm1d(3)], (4,), ["2: BatchNorm must follow a Conv2d or Linear"]),
        (lambda: [nn.Linear(4, 3), _leaky(threshold=torch.tensor([0.5, 0.7, 0.5]), learn_threshold=True)], (4,),
         ["1 (lif1): v_threshold differs between neurons (0.5 … 0.7)", "one value per layer"]),
    ],
)
def test_what_the_chip_cannot_run_is_refused_by_the_layers_module_path(tmp_path, layers, shape, fragments):
    with pytest.raises(UnsupportedModuleError) as info:
        enof.export(nn.Sequential(*layers()), "loihi2", tmp_path / "b", timesteps=2, input_shape=shape)
    message = str(info.value)
    assert all(f in message for f in fragments) and "\n" not in message, message
    assert not (tmp_path / "b").exists()


def test_a_module_with_its_own_forward_is_refused_with_the_way_out(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

    with pytest.raises(UnsupportedModuleError, match=r"Net: enof reads an nn.Sequential .* put the layers in an nn.Sequential"):
        enof.export(Net(), "loihi2", tmp_path / "b", timesteps=2, input_shape=(4,))
    with pytest.raises(EnofError, match=r"Sequential: a module does not say how many steps .* pass timesteps= and input_shape="):
        enof.export(nn.Sequential(nn.Linear(4, 3), _leaky()), "loihi2", tmp_path / "b", input_shape=(4,))


def test_an_enof_model_in_memory_exports_as_its_checkpoint_does(tmp_path, digits_checkpoint, model_factory):
    """The same weights through enof.export(model) and enof.export("model.pt"): the same integers on the chip."""
    model = model_factory("digits_cnn", width=8)  # digits_checkpoint's weights (seed 0)
    from_model = enof.export(model, "loihi2", tmp_path / "model", dataset="digits", calibrate=16)
    from_file = enof.export(digits_checkpoint, "loihi2", tmp_path / "file", calibrate=16)
    ours, theirs = np.load(from_model.path / "quant.npz"), np.load(from_file.path / "quant.npz")
    assert sorted(ours.files) == sorted(theirs.files) and len(ours.files) > 4
    for name in ours.files:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)
    assert from_model.manifest.partition == from_file.manifest.partition and from_model.timesteps == 2
    with pytest.raises(UnsupportedModuleError, match=r"timesteps = 4: the model's LIF layers were built for T = 2"):
        enof.export(model, "loihi2", tmp_path / "t4", dataset="digits", timesteps=4)


def test_weight_bits_reach_a_module_export(tmp_path):
    """--weight-bits / weight_bits: a coarser weight grid for NIR graphs and modules too (it was the checkpoint's alone)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), _leaky(), nn.Linear(5, 3), _leaky())
    coarse = enof.export(net, "loihi2", tmp_path / "b4", timesteps=2, input_shape=(6,), weight_bits=4)
    full = enof.export(net, "loihi2", tmp_path / "b8", timesteps=2, input_shape=(6,))
    assert (coarse.manifest.weight_bits, full.manifest.weight_bits) == (4, 8)
    levels = {bits: len(np.unique(np.load(b.path / "quant.npz")["affine0.weight_int"])) for bits, b in ((4, coarse), (8, full))}
    assert levels[4] <= 2**4 - 1 < levels[8]  # 30 weights: at most 15 signed 4-bit levels, more at 8 bits
