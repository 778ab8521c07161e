"""Bring your own network: an SNN trained in snnTorch, deployed on a simulated Loihi 2 with enof's Python API.

Notebook-style: run it top to bottom (`python examples/bring_your_own_network.py [OUT_DIR]`), or paste the
cells into a notebook. It trains a small snnTorch MLP on scikit-learn's 8×8 digits (seconds on a CPU),
exports the module itself (no NIR file, no enof training), runs the bundle in float and in the chip's
fixed point, and prices one inference. Norse (LIFBoxCell, LIFCell with tau_syn_inv = 1/dt) and SpikingJelly
(LIFNode, IFNode with v_reset=0.0) networks go through `enof.export` the same way.
"""

# %% 1. data: scikit-learn's digits, scaled to [0, 1], split in two
import sys
from pathlib import Path

import numpy as np
import snntorch
import snntorch.utils
import torch
from sklearn.datasets import load_digits
from torch import nn

import enof

out = Path(sys.argv[1] if len(sys.argv) > 1 else "byo-network")
digits = load_digits()
x = (digits.data / 16.0).astype(np.float32)  # (1797, 64)
y = digits.target.astype(np.int64)
x_train, y_train, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]

# %% 2. the network, in snnTorch: reset to zero (the chip's reset; snnTorch's default subtracts)
T = 8
torch.manual_seed(0)
net = nn.Sequential(
    nn.Linear(64, 64), snntorch.Leaky(beta=0.9, reset_mechanism="zero", init_hidden=True),
    nn.Linear(64, 10), snntorch.Leaky(beta=0.9, reset_mechanism="zero", init_hidden=True),
)


def spike_counts(batch: torch.Tensor) -> torch.Tensor:
    """The output layer's spikes summed over T steps (the same input at every step)."""
    snntorch.utils.reset(net)
    return torch.stack([net(batch) for _ in range(T)]).sum(0)


# %% 3. train a few epochs with snnTorch's surrogate gradient
optimizer = torch.optim.Adam(net.parameters(), lr=2e-3)
for epoch in range(4):
    for i in torch.randperm(len(x_train)).split(64):
        loss = nn.functional.cross_entropy(spike_counts(torch.from_numpy(x_train[i])), torch.from_numpy(y_train[i]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
net.eval()
with torch.no_grad():
    counts = spike_counts(torch.from_numpy(x_test)).numpy()
print(f"snnTorch test accuracy: {(counts.argmax(1) == y_test).mean():.1%}")

# %% 4. export the module for Loihi 2; the training inputs calibrate the fixed-point ranges
bundle = enof.export(net, "loihi2", out / "bundle", timesteps=T, input_shape=(64,), calibration=x_train[:256])
print(f"bundle for {bundle.target}: {bundle.path}; layers {bundle.module_paths}")

# %% 5. run it: float (the network as trained) and fixed point (the chip's integers)
as_trained = enof.run(bundle, x_test, labels=y_test, precision="float", record_spikes=True)
on_chip = enof.run(bundle, x_test, labels=y_test, precision="fixed")
same = (as_trained.spikes[bundle.layer_of("3")].sum(0) == counts).mean()
print(f"float: {as_trained.accuracy:.1%} ({same:.2%} of snnTorch's spike counts), fixed point: {on_chip.accuracy:.1%}")
on_chip.save(out / "run.json")

# %% 6. what one inference costs on the chip
report = enof.energy(on_chip)
h = report.headline
print(f"{h.total_pj / 1e3:,.1f} nJ per inference under {h.model}, latency {h.latency_s * 1e6:,.0f} µs")
report.plot(out / "energy.png")
