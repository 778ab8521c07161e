"""The EnOF LIF neuron for training: the shared float step (enof.lif) with a selectable surrogate gradient.

Discrete time, one state per neuron, hard reset to 0 (docs/design.md §1)::

    v_t = decay · v_{t-1} · (1 − s_{t-1}) + I_t
    s_t = H(v_t − v_threshold)        (strict >, so v_t == v_threshold does not spike)

How Norse is used. :func:`enof.lif.lif_step` is Norse's LIFBox step (``norse.torch.functional.lif_box``:
``v ← v + dt·tau_mem_inv·((v_leak − v) + i)``, threshold, ``reset_value``) with ``dt = 1``,
``tau_mem_inv = 1 − decay``, ``v_leak = v_reset = 0`` and the input scaled by ``1/(1 − decay)``,
written with fewer tensor operations and the same IEEE roundings. ``lif_box_feed_forward_step``
hard-wires its threshold to Norse's method strings, which have no rectangular surrogate, so the
step takes the spike function as an argument: our :func:`spike_fn` (for ``"tanh"`` it is Norse's own
``threshold(x, "tanh", alpha)``). :func:`norse_lif_step` runs the same step through Norse's own
functions; tests/trainer/test_neurons.py checks that :func:`lif_step` equals it and, for the tanh
surrogate, ``lif_box_feed_forward_step``, bit for bit in values and gradients.

Surrogate gradients, with ``x = v_t − v_threshold`` and ``a = surrogate_alpha``:

* ``"rect"`` (rectangular / straight-through window of width ``a``):
  ``ds/dx = (1/a) · 1[|x| < a/2]`` — with the default ``a = 1`` a window of width 1 and height 1.
* ``"tanh"`` (Norse's ``HeaviTanh``): ``ds/dx = 1 − tanh²(a · x)`` — peak 1 at the threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import warnings
from typing import Any, Literal

import torch

# Norse 1.1 applies torch.jit.script at import; torch >= 2.10 warns that it is deprecated. The
# warning concerns Norse's internals, not the user's run, so it is silenced for this import only.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
    import norse
    from norse.torch.functional.leaky_integrator_box import (
        LIBoxParameters,
        LIBoxState,
        li_box_feed_forward_step,
    )
    from norse.torch.functional.reset import reset_value
    from norse.torch.functional.threshold import threshold as norse_threshold
from torch import nn

from enof.lif import lif_step as shared_lif_step

NORSE_VERSION = str(getattr(norse, "__version__", "unknown"))  # recorded in every checkpoint
from enof.trainer.execution import full_precision

Surrogate = Literal["rect", "tanh"]
SURROGATES: tuple[str, ...] = ("rect", "tanh")


@dataclass(frozen=True)
class NeuronConfig:
    """Parameters of the EnOF LIF (docs/design.md §1); stored in the checkpoint as a dict."""

    decay: float = 0.25
    v_threshold: float = 0.5
    surrogate: Surrogate = "rect"
    surrogate_alpha: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"NeuronConfig.decay must be in [0, 1), got {self.decay}")
        if not self.v_threshold > 0.0:
            raise ValueError(f"NeuronConfig.v_threshold must be > 0, got {self.v_threshold}")
        if self.surrogate not in SURROGATES:
            raise ValueError(
                f"NeuronConfig.surrogate must be one of {SURROGATES}, got {self.surrogate!r}"
            )
        if not self.surrogate_alpha > 0.0:
            raise ValueError(
                f"NeuronConfig.surrogate_alpha must be > 0, got {self.surrogate_alpha}"
            )

    @property
    def dt_tau_mem_inv(self) -> float:
        """Norse/NIR ``dt · tau_mem_inv`` that makes the Euler step decay by ``decay``."""
        return 1.0 - self.decay

    @property
    def input_gain(self) -> float:
        """Factor on the input current in Norse/NIR terms (NIR LIF ``r``): ``1/(1 − decay)``."""
        return 1.0 / (1.0 - self.decay)

    def spike(self, x: torch.Tensor) -> torch.Tensor:
        """:func:`spike_fn` with this neuron's surrogate: the spike function of its LIF step."""
        return spike_fn(x, self.surrogate, self.surrogate_alpha)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NeuronConfig":
        return cls(
            decay=float(data["decay"]),
            v_threshold=float(data["v_threshold"]),
            surrogate=str(data["surrogate"]),  # type: ignore[arg-type]
            surrogate_alpha=float(data["surrogate_alpha"]),
        )


class RectSurrogateSpike(torch.autograd.Function):
    """Forward ``H(x)`` (strict ``x > 0``); backward ``(1/a) · 1[|x| < a/2]``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, width: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.width = width
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        width = ctx.width
        window = (x.abs() < width / 2).to(grad_out.dtype)
        return grad_out * window / width, None


def spike_fn(x: torch.Tensor, surrogate: Surrogate, alpha: float) -> torch.Tensor:
    """Heaviside of ``x`` (strict) with the chosen surrogate gradient (module docstring)."""
    if surrogate == "rect":
        return RectSurrogateSpike.apply(x, alpha)
    if surrogate == "tanh":
        return norse_threshold(x, "tanh", alpha)
    raise ValueError(f"unknown surrogate {surrogate!r}; choose one of {SURROGATES}")


def lif_step(
    current: torch.Tensor, v: torch.Tensor | None, neuron: NeuronConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """One EnOF LIF step with ``neuron``'s surrogate: ``(I_t, v_{t-1} after reset) -> (s_t, v_t after reset)``.

    :func:`enof.lif.lif_step`, Norse's LIFBox step bit for bit (the module docstring); ``v=None`` is the
    resting membrane (v = 0). Training spends most of its non-convolution time here
    (benchmarks/train_step.py).
    """
    return shared_lif_step(current, v, decay=neuron.decay, v_threshold=neuron.v_threshold, spike=neuron.spike)


def norse_lif_step(
    current: torch.Tensor, v: torch.Tensor, neuron: NeuronConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`lif_step` through Norse's own functions (the reference it is tested against)."""
    params = LIBoxParameters(tau_mem_inv=neuron.dt_tau_mem_inv, v_leak=0.0)
    v_integrated, _ = li_box_feed_forward_step(
        current * neuron.input_gain, LIBoxState(v=v), params, dt=1.0
    )
    spikes = spike_fn(v_integrated - neuron.v_threshold, neuron.surrogate, neuron.surrogate_alpha)
    v_next = reset_value(spikes, v_integrated, 0.0, neuron.v_threshold)
    return spikes, v_next


def lif_unroll(
    currents: torch.Tensor, neuron: NeuronConfig, keep_voltages: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run :func:`lif_step` over ``currents`` (T, ...) from ``v = 0``.

    Returns ``(spikes, v_after_reset)``, both (T, ...); voltages are None without ``keep_voltages``.
    """
    v, spikes, voltages = None, [], []
    for current in currents:
        s, v = lif_step(current, v, neuron)
        spikes.append(s)
        if keep_voltages:
            voltages.append(v)
    return torch.stack(spikes), torch.stack(voltages) if keep_voltages else None


class LIF(nn.Module):
    """EnOF LIF layer on time-folded tensors: input and output ``(T·B, ...)``.

    ``timesteps`` (T) is fixed at construction; the layer unfolds to (T, B, ...), runs
    :func:`lif_unroll` from a zero membrane, and folds back. It holds no state between calls.
    """

    def __init__(self, timesteps: int, neuron: NeuronConfig = NeuronConfig()) -> None:
        super().__init__()
        if timesteps < 1:
            raise ValueError(f"LIF timesteps must be >= 1, got {timesteps}")
        self.timesteps = int(timesteps)
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.timesteps
        if x.shape[0] % steps != 0:
            raise ValueError(
                f"LIF expects a time-folded batch (T·B, ...) with T={steps}; "
                f"got leading size {x.shape[0]}, not a multiple of {steps}"
            )
        # float32 membrane under autocast (enof/trainer/execution.py says why); a no-op in float32.
        unfolded = full_precision(x).reshape(steps, x.shape[0] // steps, *x.shape[1:])
        spikes, _ = lif_unroll(unfolded, self.neuron, keep_voltages=False)
        return spikes.reshape(x.shape)

    def extra_repr(self) -> str:
        n = self.neuron
        return (
            f"timesteps={self.timesteps}, decay={n.decay}, v_threshold={n.v_threshold}, "
            f"surrogate={n.surrogate}, surrogate_alpha={n.surrogate_alpha}"
        )


class RepActReLU(nn.ReLU):
    """The RepAct activation: a plain ReLU that replaces the network's last LIF.

    Its own type marks the cut for the exporter: everything from the weight layers that feed
    it onwards runs on the host, because its output is not spikes.
    """
