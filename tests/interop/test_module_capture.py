"""Modules straight in (issue 26): a conv net and an MLP built in each of snnTorch 1.0.0, Norse 1.1 and
SpikingJelly 2.0.0 with random weights, exported by ``enof.export(module, ...)``, reproduce the library's own
spikes in float and run the same integers on Lava as on the built-in simulator.

Tolerance of the float comparison: ≥ 99.9 % of every spiking layer's spikes (T × N × neurons values), not
100 %: enof folds each library's input gain (1/(1 − β), dt·tau_mem_inv, 1/tau) into float32 weights and
integrates v + k·(I/k − v) (enof.lif), where the library computes β·v + I, v + dt·τ⁻¹·(I − v) or v + (x − v)/τ,
and enof folds AvgPool2d and BatchNorm into the next or previous weights: another rounding and summation
order, so a membrane within ~1e-7 relative of the threshold may land on the other side. SpikingJelly fires
at v ≥ threshold, the chip at v > threshold: they differ only where v equals it exactly. Fixed point against
Lava: no tolerance, both compute the same integers (docs/design.md §6).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import enof

T, SAMPLES, LAVA_SAMPLES = 8, 200, 20
CONV_SHAPE, MLP_SHAPE = (1, 8, 8), (32,)


def _snntorch(kind: str) -> nn.Sequential:
    import snntorch

    def leaky(beta):
        return snntorch.Leaky(beta=beta, threshold=0.5, reset_mechanism="zero", init_hidden=True)

    if kind == "conv":
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), leaky(0.8), nn.AvgPool2d(2), nn.Conv2d(4, 8, 3, padding=1),
                             nn.BatchNorm2d(8), leaky(0.6), nn.Flatten(), nn.Linear(128, 10), leaky(0.9))  # fmt: skip
    return nn.Sequential(nn.Linear(32, 48), leaky(0.8), nn.Dropout(0.2), nn.Linear(48, 10), leaky(0.7))


def _norse(kind: str) -> nn.Sequential:
    import norse.torch as norse

    instantaneous = norse.LIFParameters(tau_syn_inv=torch.tensor(1000.0), tau_mem_inv=torch.tensor(200.0), v_th=torch.tensor(0.4))
    if kind == "conv":
        return norse.SequentialState(nn.Conv2d(1, 4, 3, padding=1), norse.LIFBoxCell(), nn.AvgPool2d(2),
                                     nn.Conv2d(4, 8, 3, padding=1), norse.LIFCell(instantaneous), nn.Flatten(),
                                     nn.Linear(128, 10), norse.LIFBoxCell())  # fmt: skip
    return norse.SequentialState(nn.Linear(32, 48), norse.LIFCell(instantaneous), nn.Linear(48, 10), norse.LIFBoxCell())


def _spikingjelly(kind: str) -> nn.Sequential:
    from spikingjelly.activation_based import layer, neuron

    if kind == "conv":
        return nn.Sequential(layer.Conv2d(1, 4, 3, padding=1), neuron.LIFNode(tau=2.0), layer.AvgPool2d(2),
                             layer.Conv2d(4, 8, 3, padding=1), layer.BatchNorm2d(8), neuron.IFNode(), layer.Flatten(),
                             layer.Linear(128, 10), neuron.LIFNode(tau=4.0, decay_input=False))  # fmt: skip
    return nn.Sequential(layer.Linear(32, 48), neuron.LIFNode(tau=3.0, decay_input=False), layer.Linear(48, 10), neuron.IFNode())


# weight gains that make every layer fire on uniform [0, 1) inputs, but not everywhere
BUILDERS = {"snntorch": (_snntorch, {"conv": 2.0, "mlp": 2.0}), "norse": (_norse, {"conv": 24.0, "mlp": 12.0}),
            "spikingjelly": (_spikingjelly, {"conv": 4.0, "mlp": 2.0})}
NEURON_TYPES = ("Leaky", "LIFBoxCell", "LIFCell", "LIFNode", "IFNode")


def build(library: str, kind: str) -> nn.Sequential:
    """The library's net with seeded random weights and BatchNorm statistics, in eval mode."""
    builder, gain = BUILDERS[library]
    torch.manual_seed(7)
    net = builder(kind).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.mul_(gain[kind])
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
    return net


def library_spikes(library: str, net: nn.Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every spiking layer's spikes (T, N, *shape) as the library itself computes them, by module path."""
    recorded: dict[str, list] = {}
    hooks = []
    for path, module in net.named_modules():
        if type(module).__name__ in NEURON_TYPES:
            def keep(_m, _i, out, path=path):
                recorded.setdefault(path, []).append((out[0] if isinstance(out, tuple) else out).to_dense().numpy())
            hooks.append(module.register_forward_hook(keep))
    inputs = torch.from_numpy(x)
    with torch.no_grad():
        if library == "snntorch":
            import snntorch.utils

            snntorch.utils.reset(net)
            for _ in range(T):
                net(inputs)
        elif library == "norse":
            state = None
            for _ in range(T):
                _, state = net(inputs, state)
        else:
            from spikingjelly.activation_based import functional

            functional.reset_net(net)
            for _ in range(T):
                net(inputs)
    for hook in hooks:
        hook.remove()
    return {path: np.stack(steps) for path, steps in recorded.items()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["conv", "mlp"])
@pytest.mark.parametrize("library", ["snntorch", "norse", "spikingjelly"])
def test_module_export_reproduces_the_librarys_spikes_in_float_and_lava_in_fixed_point(tmp_path, library, kind):
    shape = CONV_SHAPE if kind == "conv" else MLP_SHAPE
    x = np.random.default_rng(3).uniform(0.0, 1.0, (SAMPLES, *shape)).astype(np.float32)
    net = build(library, kind)
    theirs = library_spikes(library, net, x)
    bundle = enof.export(net, "loihi2", tmp_path / "bundle", timesteps=T, input_shape=shape, calibration=x)

    ours = enof.run(bundle, x, precision="float", record_spikes=True)
    assert len(theirs) == (3 if kind == "conv" else 2)
    for path, spikes in theirs.items():
        assert 0.02 < spikes.mean() < 0.9, (path, spikes.mean())  # every layer fires, not everywhere: not vacuous
        agreement = (ours.spikes[bundle.layer_of(path)] == spikes).mean()
        assert agreement >= 0.999, (path, agreement)
    assert ours.predictions.shape == (SAMPLES,)

    lava = enof.run(bundle, x[:LAVA_SAMPLES], backend="lava", precision="fixed", record_spikes=True)
    fast = enof.run(bundle, x[:LAVA_SAMPLES], backend="fast", precision="fixed", record_spikes=True)
    for layer, spikes in fast.spikes.items():
        np.testing.assert_array_equal(lava.spikes[layer], spikes, err_msg=layer)
    np.testing.assert_array_equal(lava.predictions, fast.predictions)
    assert sum(int(s.sum()) for s in fast.spikes.values()) > 0


def test_spikingjellys_own_nir_file_needs_its_dt_and_then_gives_its_spikes(tmp_path):
    """SpikingJelly 2.0.0's export_to_nir (the one library exporter that writes a file enof reads, issue 26) writes
    its neurons for dt = 1e-4 s without recording it: refused without dt_s, then the library's spikes (tolerance
    as above). Its tracer cannot pass a BatchNorm (torch.fx TraceError), so this conv net has none."""
    from spikingjelly.activation_based.nir_exchange.to_nir import export_to_nir

    from enof.errors import UnsupportedModuleError

    net = nn.Sequential(*[layer for layer in build("spikingjelly", "conv") if not isinstance(layer, nn.BatchNorm2d)])
    x = np.random.default_rng(3).uniform(0.0, 1.0, (50, *CONV_SHAPE)).astype(np.float32)
    theirs = library_spikes("spikingjelly", net, x)
    export_to_nir(net, torch.zeros(1, *CONV_SHAPE), save_path=str(tmp_path / "sj.nir"))
    with pytest.raises(UnsupportedModuleError, match=r"sj.nir: the graph's metadata has no dt_s"):
        enof.export(tmp_path / "sj.nir", "loihi2", tmp_path / "refused", timesteps=T, calibration=x)
    bundle = enof.export(tmp_path / "sj.nir", "loihi2", tmp_path / "bundle", timesteps=T, dt_s=1e-4, calibration=x)
    ours = enof.run(bundle, x, precision="float", record_spikes=True)
    for path, spikes in theirs.items():  # SpikingJelly names its NIR nodes "_<module path>"
        assert 0.02 < spikes.mean() < 0.9 and (ours.spikes[bundle.layer_of(f"_{path}")] == spikes).mean() >= 0.999, path
