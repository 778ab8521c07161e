"""The fixed-point rules the exporter quantizes by and the fine-tuner trains through (docs/design.md §5–6).

Below both ``enof.exporter`` and ``enof.trainer``: the target's integer formats (``FixedPointLimits``),
what an integer stands for as a float (weight, bias, input), which scale a synapse's input integers
carry, and ``ChipValues``, the floats one export's integers stand for per trained module (what the
exporter hands the fine-tuner; enof.exporter.finetune_target builds it, enof.trainer.finetune reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from enof.errors import DoesNotFitError
from enof.formats.fixed_point import ACT_SHIFT
from enof.formats.netx import NETX_BIAS_EXP
from enof.formats.quant import input_range, weight_grid_step, weight_register_max

INPUT_SHIFT = 1 << ACT_SHIFT  # 64: Lava aligns a_in (and vth, VTH_SHIFT = ACT_SHIFT) by 6 bits; the bias is not shifted


@dataclass(frozen=True)
class FixedPointLimits:
    """The target's integer formats (its profile's [fixed_point]); ``weight_bits`` may be fewer than the
    synapse's ``weight_mant_bits`` register (``--weight-bits``): a coarser grid, not a smaller range."""

    weight_bits: int = 8
    weight_exp_min: int = -7
    weight_exp_max: int = 7
    vth_mant_bits: int = 17
    bias_mant_bits: int = 13
    bias_exp_max: int = 7
    bias_exp_min: int = 0  # NETX_BIAS_EXP on targets with graded spikes (Loihi 2): biases netx reads exactly
    decay_bits: int = 12
    state_bits: int = 24
    graded_spike_bits: int = 0
    weight_mant_bits: int = 8  # the profile's weight_bits: Lava Dense's 8-bit weight register

    @classmethod
    def from_profile(cls, profile, weight_bits: int | None = None) -> "FixedPointLimits":
        """The profile's limits; ``weight_bits`` (--weight-bits) overrides its weight bits where the target
        has the synapse format: 2 up to the profile's bits (a MIXED-sign synapse spends one bit on the sign,
        so 1 bit would leave every weight 0; nengo-loihi's WEIGHT_BITS_MAP and Lava's num_weight_bits go 1–8)."""
        fp = profile.fixed_point
        register = int(fp.weight_bits.value)
        if weight_bits is not None and not 2 <= weight_bits <= register:
            raise DoesNotFitError(
                f"--weight-bits {weight_bits}: the {profile.name} profile's synapses take 2 to {register} weight bits"
            )
        return cls(
            weight_bits=register if weight_bits is None else int(weight_bits), weight_mant_bits=register,
            weight_exp_min=int(fp.weight_exp_min.value),
            weight_exp_max=int(fp.weight_exp_max.value), vth_mant_bits=int(fp.vth_mant_bits.value),
            bias_mant_bits=int(fp.bias_mant_bits.value), bias_exp_max=int(fp.bias_exp_max.value),
            bias_exp_min=min(NETX_BIAS_EXP, int(fp.bias_exp_max.value)) if profile.target.graded_spikes.value else 0,
            decay_bits=int(fp.decay_bits.value), state_bits=int(fp.state_bits.value),
            graded_spike_bits=int(profile.target.graded_spike_bits.value),
        )

    @property
    def weight_step(self) -> int:
        """Grid of a MIXED-sign weight (enof.formats.quant.weight_grid_step): 2 at 8 bits, 2^(9 − bits) below."""
        return weight_grid_step(self.weight_mant_bits, self.weight_bits)

    @property
    def weight_max(self) -> int:
        return weight_register_max(self.weight_mant_bits, self.weight_bits)  # 254 at 8 bits

    @property
    def state_max(self) -> int:
        return 2 ** (self.state_bits - 1) - 1


def synapse_in_scale(fed_by_input: bool, input_scale: float) -> float:
    """The scale of a synapse's input integers: ``input.scale`` on the graded input, 1 on spikes."""
    return input_scale if fed_by_input else 1.0


def weight_value(weight_int, weight_exp: int, scale: float, in_scale: float):
    """The float weight the integers stand for, ``w_int · 2^weight_exp · 64 · in_scale / S``: the chip
    adds exactly this times the float input. Plain arithmetic, so numpy arrays and torch tensors alike
    (the fine-tuner's forward, enof.trainer.finetune, trains on these values)."""
    return weight_int * 2.0**weight_exp * (INPUT_SHIFT * in_scale / scale)


def bias_value(bias_mant, bias_exp: int, scale: float):
    """The float bias the chip adds each step, ``bias_mant · 2^bias_exp / S`` (the bias is not shifted)."""
    return bias_mant * (2.0**bias_exp / scale)


def input_value(x, input_scale: float):
    """The float value of the chip's input integers ``round(x · input.scale)`` (graded pixels, or the
    host-in current in current mode), for numpy arrays and torch tensors."""
    return (x * input_scale).round() / input_scale


def spike_value(x):
    """Event frames as the chip takes them in "spikes" input mode: counts rounded and clipped to one spike,
    ``clip(round(x), 0, 1)`` (input.scale is 1), for numpy arrays and torch tensors; the runtime's
    ChipProgram.quantize_input gives the same integers (both clip to formats.quant.input_range)."""
    low, high = input_range("spikes", 1)
    return x.round().clip(low, high)


InputMode = Literal["graded", "spikes", "current"]


@dataclass(frozen=True)
class ModuleValues:
    """One trained weight module's folded (BatchNorm, average pool) weight and bias, as the floats the
    export's integers stand for; ``bias`` None where the LIF's one bias went to another of its sources."""

    module_path: str
    weight: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True)
class ChipValues:
    """What one export computes for a model's current weights, as floats: per trained module its folded
    values, how the chip takes its input (``input_mode``, ``input_scale``) and, in current mode, the module
    path of the LIF the host-in current feeds (the chip rounds that current to its input integers)."""

    modules: tuple[ModuleValues, ...]
    input_mode: InputMode
    input_scale: float
    current_module_path: str | None = None

    def __post_init__(self):
        if (self.input_mode == "current") != (self.current_module_path is not None):
            raise ValueError(f"ChipValues: input mode {self.input_mode!r} with current module {self.current_module_path!r}")
