"""A ``torch.nn.Module`` built from snnTorch, Norse or SpikingJelly layers → a NIR graph that
``enof.exporter.from_nir`` deploys (docs/nir.md "Modules straight in").

The module is read, never run: an ``nn.Sequential`` (Norse's ``SequentialState`` is one; nested ones are
walked in order) of ``Conv2d``, ``Linear``, ``Flatten``, ``AvgPool2d``, ``BatchNorm1d/2d`` (folded into the
weight layer before it, with its running statistics), ``Dropout``/``Identity`` (nothing at inference) and
one spiking layer after each weight layer. Each library's neuron is read in its own conventions and
written as the NIR node whose forward-Euler step of the graph's ``dt_s`` is that library's update:

- snnTorch ``Leaky(beta, threshold, reset_mechanism="zero")``: ``v ← β·v·(1 − s) + I``, strict ``v > threshold``:
  LIF ``tau = dt/(1 − β)``, ``r = 1/(1 − β)`` (snnTorch's own NIR convention; β = 1 is an IF, ``r = 1/dt``).
- Norse ``LIFBoxCell`` and ``LIFCell``/``LIF`` (``v ← v + dt·tau_mem_inv·(v_leak − v + i)``, reset to ``v_reset``
  in the same step): LIF ``tau = 1/tau_mem_inv``, ``r = 1``, at the module's own ``dt``. ``LIFCell`` only with an
  instantaneous synapse, ``dt·tau_syn_inv = 1`` (Norse's ``i`` then equals this step's input).
- SpikingJelly ``LIFNode(tau, decay_input, v_reset=0.0)``: ``v ← v + (x − v)/tau`` (``decay_input``) or
  ``v − v/tau + x``: LIF ``tau = tau·dt`` and ``r = 1`` or ``tau``; ``IFNode``: IF ``r = 1/dt``. SpikingJelly fires
  on ``v ≥ v_threshold``, the chip on ``v > v_threshold``: they differ only where v equals the threshold exactly.

What the chip cannot run is refused by the layer's module path, with what to change: reset by subtraction,
recurrent neurons, per-neuron parameters that differ (from_nir), layers not in the table, a module that is
not a Sequential (its forward cannot be read without running it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import nir
import numpy as np
import torch
from torch import nn

from enof.errors import UnsupportedModuleError

STEP_DT_S = 1e-3  # the graph's Euler step for libraries whose neurons count in steps (snnTorch, SpikingJelly); any value gives the same network
CAPTURES = ("nn.Sequential of Conv2d, Linear, Flatten, AvgPool2d, BatchNorm1d/2d, Dropout, Identity and snnTorch Leaky, "
            "Norse LIFBoxCell/LIFCell/LIF, SpikingJelly LIFNode/IFNode")
# Layers people use that the chip cannot run, and what to change (the key is a class name).
ADVICE = {
    "RLeaky": "recurrent (the chip program is feed-forward): use snntorch.Leaky",
    "RSynaptic": "recurrent (the chip program is feed-forward): use snntorch.Leaky",
    "Synaptic": "a synaptic current that decays over steps (the chip's synapse is instantaneous): use snntorch.Leaky",
    "Alpha": "a two-state neuron the chip does not have: use snntorch.Leaky",
    "LIFRecurrentCell": "recurrent (the chip program is feed-forward): use norse LIFBoxCell",
    "LIFRecurrent": "recurrent (the chip program is feed-forward): use norse LIFBoxCell",
    "ParametricLIFNode": "a learned tau: read it out (tau = 1 / sigmoid(w)) and build a LIFNode with that tau",
    "MaxPool2d": "max pooling is not linear, so it cannot fold into a synapse: use AvgPool2d",
    "ReLU": "a ReLU network is not spiking: put a spiking neuron after the weight layer",
}


@dataclass
class _Capture:
    """The graph being written: nodes, the last node, the current sample shape, the pending weight node."""

    dt_s: float
    nodes: dict[str, nir.NIRNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    last: str = "input"
    shape: tuple[int, ...] = ()
    weight_node: str | None = None  # a Conv2d/Affine that a BatchNorm may still fold into
    libraries: set[str] = field(default_factory=set)

    def add(self, name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> None:
        if name in self.nodes:
            raise UnsupportedModuleError(f"{name}: two layers of this name; enof needs one name per layer")
        self.nodes[name] = node
        self.edges.append((self.last, name))
        self.last, self.shape = name, tuple(int(v) for v in shape)


def module_to_nir(module: nn.Module, input_shape: tuple[int, ...], dt_s: float | None = None) -> nir.NIRGraph:
    """The NIR graph (metadata ``dt_s``, ``reset = zero``) of ``module`` for samples of ``input_shape`` (C, H, W)
    or (N,); ``dt_s`` is checked against Norse modules' own ``dt`` (it sets nothing else: snnTorch and
    SpikingJelly count in steps)."""
    if not isinstance(module, nn.Sequential):
        raise UnsupportedModuleError(
            f"{type(module).__name__}: enof reads an nn.Sequential (its layers in order), not a module with its own forward — "
            "put the layers in an nn.Sequential (Norse: SequentialState) or export the network to NIR"
        )
    if not input_shape or any(int(v) < 1 for v in input_shape):
        raise UnsupportedModuleError(f"input_shape = {tuple(input_shape)}: give one sample's shape, (C, H, W) or (N,)")
    layers = list(_leaves("", module))
    capture = _Capture(_graph_dt(layers, dt_s), shape=tuple(int(v) for v in input_shape))
    capture.nodes["input"] = nir.Input({"input": np.array(capture.shape)})
    for path, layer in layers:
        handler = _handler(layer)
        if handler is None:
            advice = ADVICE.get(type(layer).__name__, f"enof reads {CAPTURES}")
            raise UnsupportedModuleError(f"{path}: {type(layer).__module__}.{type(layer).__name__} is not supported — {advice}")
        handler(capture, path, layer)
    capture.nodes["output"] = nir.Output({"output": np.array(capture.shape)})
    capture.edges.append((capture.last, "output"))
    metadata = {"dt_s": capture.dt_s, "reset": "zero", "source": ", ".join(sorted(capture.libraries)) or "torch"}
    return nir.NIRGraph(capture.nodes, capture.edges, metadata=metadata, type_check=False)


def _leaves(prefix: str, module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, child in module.named_children():
        path = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            yield from _leaves(f"{path}.", child)
        else:
            yield path, child


def _library(layer: nn.Module) -> str:
    return type(layer).__module__.split(".")[0]


def _graph_dt(layers: list[tuple[str, nn.Module]], dt_s: float | None) -> float:
    """Norse modules carry their dt: they must agree with each other and with ``dt_s`` when it is given."""
    norse = [(path, float(layer.dt)) for path, layer in layers if _library(layer) == "norse" and hasattr(layer, "dt")]
    for path, dt in norse:
        if dt != norse[0][1] or (dt_s is not None and not np.isclose(dt, dt_s, rtol=1e-9, atol=0.0)):
            given = f"dt_s = {dt_s:g}" if dt_s is not None and dt != dt_s else f"{norse[0][0]}'s dt = {norse[0][1]:g}"
            raise UnsupportedModuleError(f"{path}: Norse dt = {dt:g} but {given}; the chip runs one time step — give every layer one dt")
    if norse:
        return norse[0][1]
    return float(dt_s) if dt_s is not None else STEP_DT_S


def _handler(layer: nn.Module) -> Callable | None:
    """The layer's handler: a library neuron by its exact class (a subclass may change the dynamics), a torch
    layer by its nearest base (SpikingJelly's layer.Conv2d is an nn.Conv2d)."""
    key = f"{_library(layer)}.{type(layer).__name__}"
    if key in NEURONS:
        return NEURONS[key]
    return next((LAYERS[cls] for cls in type(layer).__mro__ if cls in LAYERS), None)


def _array(value) -> np.ndarray:
    return (value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)).astype(np.float32)


def _full(value, shape: tuple[int, ...], path: str, what: str) -> np.ndarray:
    """A neuron parameter (one value, one per channel or one per neuron) broadcast to the layer's shape."""
    array = _array(value)
    if array.size == shape[0] and len(shape) > 1 and array.shape != shape:  # one value per channel
        array = array.reshape(-1, *([1] * (len(shape) - 1)))
    try:
        return np.broadcast_to(array, shape).astype(np.float32)
    except ValueError:
        raise UnsupportedModuleError(f"{path}: {what} of shape {array.shape} does not fit the layer's {shape}") from None


# ---- torch layers -------------------------------------------------------------------------------------------

def _conv(capture: _Capture, path: str, layer: nn.Conv2d) -> None:
    if len(capture.shape) != 3:
        raise UnsupportedModuleError(f"{path}: Conv2d on a sample of shape {capture.shape}; it needs (C, H, W) — check input_shape")
    if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
        raise UnsupportedModuleError(f"{path}: Conv2d padding={layer.padding!r}, padding_mode={layer.padding_mode!r}; give numeric zero padding")
    if layer.in_channels != capture.shape[0]:
        raise UnsupportedModuleError(f"{path}: Conv2d takes {layer.in_channels} channels, the sample has shape {capture.shape} — check input_shape")
    weight = _array(layer.weight)
    bias = _array(layer.bias) if layer.bias is not None else np.zeros(weight.shape[0], np.float32)
    out = torch.nn.functional.conv2d(torch.zeros(1, *capture.shape), layer.weight.detach().cpu(), None, layer.stride,
                                     layer.padding, layer.dilation, layer.groups)  # fmt: skip
    node = nir.Conv2d(capture.shape[1:], weight, np.array(layer.stride), np.array(layer.padding), np.array(layer.dilation),
                      layer.groups, bias)  # fmt: skip
    capture.add(path, node, out.shape[1:])
    capture.weight_node = path


def _linear(capture: _Capture, path: str, layer: nn.Linear) -> None:
    if capture.shape != (layer.in_features,):
        raise UnsupportedModuleError(
            f"{path}: Linear takes {layer.in_features} features, the sample has shape {capture.shape} — "
            + ("put an nn.Flatten() before it" if len(capture.shape) > 1 else "check input_shape")
        )
    weight = _array(layer.weight)
    node = nir.Affine(weight, _array(layer.bias)) if layer.bias is not None else nir.Linear(weight)
    capture.add(path, node, (layer.out_features,))
    capture.weight_node = path


def _flatten(capture: _Capture, path: str, layer: nn.Flatten) -> None:
    if layer.start_dim != 1 or layer.end_dim != -1:
        raise UnsupportedModuleError(f"{path}: Flatten(start_dim={layer.start_dim}, end_dim={layer.end_dim}); enof flattens a whole sample: nn.Flatten()")
    capture.add(path, nir.Flatten({"input": np.array(capture.shape)}, start_dim=0, end_dim=-1), (int(np.prod(capture.shape)),))
    capture.weight_node = None


def _avgpool(capture: _Capture, path: str, layer: nn.AvgPool2d) -> None:
    if len(capture.shape) != 3 or layer.ceil_mode or layer.divisor_override is not None:
        raise UnsupportedModuleError(f"{path}: AvgPool2d(ceil_mode={layer.ceil_mode}, divisor_override={layer.divisor_override}) "
                                     f"on a sample of shape {capture.shape}; enof folds a plain AvgPool2d on (C, H, W)")  # fmt: skip
    k = np.broadcast_to(layer.kernel_size, 2)
    s = np.broadcast_to(layer.stride if layer.stride is not None else layer.kernel_size, 2)
    p = np.broadcast_to(layer.padding, 2)
    out = torch.nn.functional.avg_pool2d(torch.zeros(1, *capture.shape), tuple(k), tuple(s), tuple(p))
    capture.add(path, nir.AvgPool2d(np.array(k), np.array(s), np.array(p)), out.shape[1:])
    capture.weight_node = None


def _batchnorm(capture: _Capture, path: str, layer: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold the running statistics into the weight layer just before: w·γ/σ, (b − μ)·γ/σ + β."""
    if capture.weight_node is None or capture.last != capture.weight_node:
        raise UnsupportedModuleError(f"{path}: BatchNorm must follow a Conv2d or Linear directly (it is folded into that layer)")
    if layer.running_mean is None:
        raise UnsupportedModuleError(f"{path}: BatchNorm with track_running_stats=False has no statistics to fold; train it with running statistics")
    std = np.sqrt(_array(layer.running_var).astype(np.float64) + layer.eps)
    gamma = _array(layer.weight).astype(np.float64) if layer.affine else np.ones_like(std)
    beta = _array(layer.bias).astype(np.float64) if layer.affine else np.zeros_like(std)
    node = capture.nodes[capture.weight_node]
    scale = gamma / std
    weight = np.asarray(node.weight, np.float64) * scale.reshape(-1, *([1] * (np.ndim(node.weight) - 1)))
    bias = np.asarray(getattr(node, "bias", 0.0), np.float64)
    bias = (bias - _array(layer.running_mean)) * scale + beta
    if isinstance(node, nir.Conv2d):
        node.weight, node.bias = weight.astype(np.float32), bias.astype(np.float32)
    else:
        capture.nodes[capture.weight_node] = nir.Affine(weight.astype(np.float32), bias.astype(np.float32))


def _skip(capture: _Capture, path: str, layer: nn.Module) -> None:
    """Dropout and Identity: nothing at inference."""


LAYERS: dict[type, Callable] = {
    nn.Conv2d: _conv, nn.Linear: _linear, nn.Flatten: _flatten, nn.AvgPool2d: _avgpool,
    nn.BatchNorm1d: _batchnorm, nn.BatchNorm2d: _batchnorm, nn.Dropout: _skip, nn.Identity: _skip,
}  # fmt: skip


# ---- neurons ----------------------------------------------------------------------------------------------

def _lif(capture: _Capture, path: str, library: str, tau, r, v_threshold, v_leak=0.0, v_reset=0.0) -> None:
    if capture.weight_node is None or capture.last != capture.weight_node:
        raise UnsupportedModuleError(f"{path}: a spiking layer must follow a Conv2d or Linear (optionally with its BatchNorm)")
    shape = capture.shape
    node = nir.LIF(tau=_full(tau, shape, path, "tau"), r=_full(r, shape, path, "r"), v_leak=_full(v_leak, shape, path, "v_leak"),
                   v_threshold=_full(v_threshold, shape, path, "threshold"), v_reset=_full(v_reset, shape, path, "v_reset"))  # fmt: skip
    capture.add(path, node, shape)
    capture.weight_node = None
    capture.libraries.add(library)


def _if(capture: _Capture, path: str, library: str, v_threshold, v_reset=0.0) -> None:
    if capture.weight_node is None or capture.last != capture.weight_node:
        raise UnsupportedModuleError(f"{path}: a spiking layer must follow a Conv2d or Linear (optionally with its BatchNorm)")
    shape = capture.shape
    node = nir.IF(r=np.full(shape, 1.0 / capture.dt_s, np.float32), v_threshold=_full(v_threshold, shape, path, "threshold"),
                  v_reset=_full(v_reset, shape, path, "v_reset"))  # fmt: skip
    capture.add(path, node, shape)
    capture.weight_node = None
    capture.libraries.add(library)


def _snntorch_leaky(capture: _Capture, path: str, layer) -> None:
    if layer.reset_mechanism != "zero":
        raise UnsupportedModuleError(
            f"{path}: snntorch.Leaky(reset_mechanism={layer.reset_mechanism!r}); the chip resets to zero — build and train it "
            "with reset_mechanism='zero' (snnTorch's default is 'subtract')"
        )
    for flag, why in (("inhibition", "inhibition"), ("state_quant", "state quantization")):
        if getattr(layer, flag, False):
            raise UnsupportedModuleError(f"{path}: snntorch.Leaky with {why}; the chip has none — build it with {flag}=False")
    factor = _array(getattr(layer, "graded_spikes_factor", 1.0))
    if not np.all(factor == 1.0):
        raise UnsupportedModuleError(f"{path}: snntorch.Leaky graded_spikes_factor = {factor.reshape(-1)[0]:g}; the chip's spikes are 1")
    beta = np.clip(_array(layer.beta), 0.0, 1.0)  # snnTorch clamps β to [0, 1] in its step
    if np.all(beta == 1.0):  # no leak: an integrator
        _if(capture, path, "snntorch", layer.threshold)
        return
    if np.any(beta == 1.0):
        raise UnsupportedModuleError(f"{path}: snntorch.Leaky with β = 1 for some neurons only; give the layer one β")
    dt = capture.dt_s
    _lif(capture, path, "snntorch", tau=dt / (1.0 - beta), r=1.0 / (1.0 - beta), v_threshold=layer.threshold)


def _norse_lif(capture: _Capture, path: str, layer) -> None:
    p, name = layer.p, type(layer).__name__
    reset = getattr(p, "reset_method", None)
    if reset is not None and getattr(reset, "__name__", "") != "reset_value":
        raise UnsupportedModuleError(f"{path}: norse {name} with reset_method={reset.__name__}; the chip resets to a value (zero) — use reset_value")
    if hasattr(p, "tau_syn_inv"):  # LIFCell/LIF: current-based; only an instantaneous synapse is the chip's
        syn_step = _array(p.tau_syn_inv) * float(layer.dt)
        if not np.allclose(syn_step, 1.0, rtol=1e-6, atol=0.0):
            raise UnsupportedModuleError(
                f"{path}: norse {name} with dt·tau_syn_inv = {float(syn_step.reshape(-1)[0]):g}; the chip's synapse is instantaneous — "
                f"use tau_syn_inv = 1/dt ({1.0 / float(layer.dt):g}) or LIFBoxCell"
            )
    tau_mem_inv = _array(p.tau_mem_inv)
    if np.any(tau_mem_inv <= 0):
        raise UnsupportedModuleError(f"{path}: norse {name} tau_mem_inv = {tau_mem_inv.reshape(-1)[0]:g}; it must be > 0")
    _lif(capture, path, "norse", tau=1.0 / tau_mem_inv, r=1.0, v_threshold=p.v_th, v_leak=p.v_leak, v_reset=p.v_reset)


def _spikingjelly_reset(path: str, layer) -> float:
    if layer.v_reset is None:
        raise UnsupportedModuleError(
            f"{path}: spikingjelly {type(layer).__name__}(v_reset=None) resets by subtraction; the chip resets to zero — use v_reset=0.0"
        )
    return float(layer.v_reset)


def _spikingjelly_lif(capture: _Capture, path: str, layer) -> None:
    v_reset, tau = _spikingjelly_reset(path, layer), float(layer.tau)
    gain = 1.0 if layer.decay_input else tau  # v + (x − v)/tau, or v − v/tau + x = v + (tau·x − v)/tau
    _lif(capture, path, "spikingjelly", tau=tau * capture.dt_s, r=gain, v_threshold=layer.v_threshold, v_reset=v_reset)


def _spikingjelly_if(capture: _Capture, path: str, layer) -> None:
    _if(capture, path, "spikingjelly", layer.v_threshold, _spikingjelly_reset(path, layer))


NEURONS: dict[str, Callable] = {
    "snntorch.Leaky": _snntorch_leaky,
    "norse.LIFBoxCell": _norse_lif, "norse.LIFBox": _norse_lif, "norse.LIFCell": _norse_lif, "norse.LIF": _norse_lif,
    "spikingjelly.LIFNode": _spikingjelly_lif, "spikingjelly.IFNode": _spikingjelly_if,
}  # fmt: skip
