"""Float chip part → the target's integers (docs/design.md §5–6, shared/reference/lava.md).

Per LIF a scale ``S`` (v units per float unit). A synapse from a source with ``in_scale``
(spikes: 1; graded pixels: ``input.scale``) delivers ``(w_int · x_int) << 6`` v units, so
``w_int = round(W · S / 64 / in_scale)``: exact when ``W·x·S`` is what the float net adds.
Weights are kept on the grid of their bits, multiples of ``weight_step`` (even at 8 bits) in
[−(256 − step), 256 − step], so Lava Dense's MIXED truncation (``(W >> nt) << nt``) is the identity, and conv weights stay within 8 bits because Lava's CPU
Conv ignores ``weight_exp``; ``weight_exp`` is 0 except on an identity conv (a residual block's
identity shortcut, ``enof.formats.identity_synapse``), which runs as a Lava Sparse diagonal that
applies it: its weight is ``w_int · 2^weight_exp``, so it does not cap ``S``. ``S`` is the largest
value for which every other incoming weight fits, the threshold mantissa and the bias (mantissa ·
2^bias_exp_max) fit, and the peak membrane and input current (calibration, or a bound) stay inside
half the signed ``state_bits`` range; it is then lowered to make ``vth = v_threshold · S / 64`` an
integer, so the threshold is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from enof.errors import DoesNotFitError
from enof.exporter.graph import INPUT, Graph, LifNode, WeightNode
from enof.exporter.partition import Partition
from enof.fixed_point_rules import (  # noqa: F401  (FixedPointLimits and the value rules: imported from here too)
    INPUT_SHIFT, FixedPointLimits, bias_value, input_value, spike_value, synapse_in_scale, weight_value,
)
from enof.formats.fixed_point import DECAY_UNITY, DU_KEEP_NOTHING
from enof.formats.identity_synapse import identity_diagonal
from enof.formats.quant import bias_mant_max, input_bits, input_range

@dataclass(frozen=True)
class LifQuant:
    """One LIF's integers and the report line about them."""

    name: str
    scale: float
    vth: int
    du: int
    dv: int
    bias_mant: np.ndarray
    bias_exp: int
    bias_float: np.ndarray
    weight_rms_rel_error: float
    weight_max_rel_error: float
    weight_int_max: int
    v_peak_int: float | None  # largest |v| on calibration data, in v units (None: not calibrated)
    current_peak_int: float | None
    state_max: int
    limited_by: str
    # per incoming chip synapse: (rms, max) rounding error of its weights relative to their rms / max
    synapse_errors: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Quantized:
    lifs: dict[str, LifQuant]
    weight_int: dict[str, np.ndarray]  # per chip weight node, int32, torch layout
    input_scale: float
    current_fed: tuple[str, ...] = ()  # LIFs driven by the host-in current (current mode)
    weight_exp: dict[str, int] = field(default_factory=dict)  # non-zero only for identity convs
    # the largest |chip input| input.scale was sized for (the export sets it: calibration peak, or the bound), recorded
    # in the manifest (interfaces.chip_input.input_abs_max) so that a reader can refuse an input.scale that overflows
    input_abs_max: float | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The contents of quant.npz (design.md §5): integers and scales; the float biases are in chip.nir."""
        out: dict[str, np.ndarray] = {"input.scale": np.float64(self.input_scale)}
        for name, w in self.weight_int.items():
            out[f"{name}.weight_int"] = w.astype(np.int32)
            out[f"{name}.weight_exp"] = np.int32(self.weight_exp.get(name, 0))
        for q in self.lifs.values():
            out[f"{q.name}.vth"] = np.int32(q.vth)
            out[f"{q.name}.du"] = np.int32(q.du)
            out[f"{q.name}.dv"] = np.int32(q.dv)
            out[f"{q.name}.bias_mant"] = q.bias_mant.astype(np.int32)
            out[f"{q.name}.bias_exp"] = np.int32(q.bias_exp)
            out[f"{q.name}.scale"] = np.float64(q.scale)
        return out


def lif_bias_float(graph: Graph, lif: LifNode, sources: list[str]) -> np.ndarray:
    """Sum of the biases of the weight nodes ``sources`` feeding ``lif``, broadcast to the LIF's shape."""
    total = np.zeros(lif.shape, dtype=np.float64)
    for name in sources:
        node = graph.nodes[name]
        b = node.bias.astype(np.float64)
        total += b.reshape(-1, *([1] * (len(lif.shape) - 1)))
    return total.astype(np.float32)


def quantize_weight(weight: np.ndarray, scale: float, in_scale: float, step: int = 2) -> np.ndarray:
    """Multiples of ``step`` (``FixedPointLimits.weight_step``: 2 = even) nearest to ``weight · scale / 64 / in_scale``."""
    return (step * np.round(weight.astype(np.float64) * scale / INPUT_SHIFT / in_scale / step)).astype(np.int32)


def in_scale_of(graph: Graph, name: str, input_scale: float) -> float:
    """The scale of weight node ``name``'s input integers (fixed_point_rules.synapse_in_scale)."""
    return synapse_in_scale(graph.spiking_source(graph.nodes[name].sources[0]) == INPUT, input_scale)


def is_identity_node(node) -> bool:
    """A 1×1 identity conv node (an identity shortcut): the one conv that may carry a weight exponent."""
    return isinstance(node, WeightNode) and node.is_identity


def quantize_identity(
    weight: np.ndarray, scale: float, in_scale: float, limits: FixedPointLimits, name: str = "identity conv"
) -> tuple[np.ndarray, int]:
    """(weight_int, weight_exp) of an identity conv: ``w_int · 2^weight_exp`` nearest to ``diag · S / 64 / in_scale``.

    One exponent per synapse (Loihi's per-synapse-group weight exponent, Lava Sparse's ``weight_exp``),
    the one giving the smallest largest error. Only exponents ≥ 0: Lava shifts the accumulated sum
    right with a floor, so a negative exponent does not scale a weight by 2^exp. A single-signed
    diagonal keeps every integer (Lava's EXCITATORY/INHIBITORY sign modes do not truncate); a mixed one
    is kept on the MIXED grid (``limits.weight_step``: even at 8 bits; MIXED truncation drops the lowest bits).
    """
    diag = identity_diagonal(weight).astype(np.float64)
    target = diag * scale / INPUT_SHIFT / in_scale
    mixed = diag.min(initial=0) < 0 < diag.max(initial=0)
    step = limits.weight_step if mixed else limits.weight_step // 2  # a single sign spends no bit on it
    best: tuple[float, np.ndarray, int] | None = None
    for exp in range(max(0, limits.weight_exp_min), max(0, limits.weight_exp_max) + 1):
        w = step * np.round(target / 2.0**exp / step)
        if np.abs(w).max(initial=0) > limits.weight_max:
            continue
        err = float(np.abs(w * 2.0**exp - target).max(initial=0))
        if best is None or err < best[0]:
            best = (err, w, exp)
    if best is None:  # the scale limit "weight_exp_max" below prevents this
        raise DoesNotFitError(
            f"{name}: identity weight {np.abs(target).max():.4g} exceeds {limits.weight_max} · 2^{limits.weight_exp_max} "
            "(weight_exp_max) at this scale"
        )
    _, w, exp = best
    full = np.zeros(weight.shape, dtype=np.int32)
    full[np.arange(diag.size), np.arange(diag.size), 0, 0] = w.astype(np.int32)
    return full, exp


def choose_bias(name: str, bias_v: np.ndarray, limits: FixedPointLimits) -> tuple[np.ndarray, int]:
    """Smallest ``bias_exp`` ≥ ``bias_exp_min`` whose mantissa ``round(bias_v / 2^exp)`` fits ``bias_mant_bits``
    (signed). On Loihi 2 targets the floor is netx's fixed exponent 6 (enof.formats.netx), so that chip.net.h5
    holds the same biases: a step of 64 v units, under 0.5 % of any threshold the digits and mnist5k bundles have
    (docs/loihi2-hardware.md measures the accuracy it costs)."""
    mant_max = bias_mant_max(limits.bias_mant_bits)
    peak = float(np.abs(bias_v).max()) if bias_v.size else 0.0
    for exp in range(limits.bias_exp_min, limits.bias_exp_max + 1):
        mant = np.round(bias_v / 2.0**exp)
        if np.abs(mant).max(initial=0) <= mant_max:
            return mant.astype(np.int32), exp
    raise DoesNotFitError(
        f"{name}: bias {peak:.4g} v units needs a mantissa > {mant_max} even at bias_exp_max = "
        f"{limits.bias_exp_max} (bias_mant_bits = {limits.bias_mant_bits}); retrain with weight decay on BN or lower the scale"
    )


def check_finite_parameters(graph: Graph) -> None:
    """Every weight and bias of the graph is finite: a NaN would cast to int32's minimum, whose
    absolute value overflows to a negative number and so passed the weight-range check."""
    for node in graph.nodes.values():
        for what in ("weight", "bias"):
            values = getattr(node, what, None)
            if values is None:
                continue
            bad = int(np.count_nonzero(~np.isfinite(np.asarray(values, dtype=np.float64))))
            if bad:
                raise DoesNotFitError(
                    f"{node.name}: {what} holds {bad} non-finite value(s) (NaN or inf) of {np.size(values)} "
                    "(after BN folding); only a finite network can be quantized"
                )


def _check(name: str, what: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise DoesNotFitError(f"{name}: {what} = {value} outside [{low}, {high}] for this target")


def quantize(
    graph: Graph,
    part: Partition,
    limits: FixedPointLimits,
    input_scale_graded: float,
    peaks: dict[str, dict] | None = None,
) -> Quantized:
    """Scales and integers for every chip LIF; ``peaks`` = float {lif: {v_max, current_max}} from calibration."""
    check_finite_parameters(graph)
    chip = set(part.names("chip"))
    lifs = [n for n in graph.nodes.values() if isinstance(n, LifNode) and n.name in chip]
    weight_int: dict[str, np.ndarray] = {}
    weight_exp: dict[str, int] = {}
    result: dict[str, LifQuant] = {}
    input_scale = input_scale_graded
    for lif in lifs:
        sources = [s for s in lif.sources if s in chip]  # host-in layers are not chip synapses
        in_scales = {s: in_scale_of(graph, s, input_scale_graded) for s in sources}
        limits_s: dict[str, float] = {
            "threshold bits": INPUT_SHIFT * (2**limits.vth_mant_bits - 1) / lif.v_threshold
        }
        identities = {s for s in sources if is_identity_node(graph.nodes[s])}
        for s in sources:
            w_peak = float(np.abs(graph.nodes[s].weight).max())
            if w_peak > 0 and s in identities:  # its exponent takes the scale, up to weight_exp_max
                top = limits.weight_max * 2.0 ** max(0, limits.weight_exp_max)
                limits_s[f"weights of {s} (weight_exp_max)"] = INPUT_SHIFT * top * in_scales[s] / w_peak
            elif w_peak > 0:
                limits_s[f"weights of {s}"] = INPUT_SHIFT * limits.weight_max * in_scales[s] / w_peak
        bias_float = lif_bias_float(graph, lif, sources)
        bias_peak = float(np.abs(bias_float).max(initial=0.0))
        if bias_peak > 0:  # the bias in v units must fit mantissa · 2^bias_exp_max
            bias_top = bias_mant_max(limits.bias_mant_bits) * 2**limits.bias_exp_max
            limits_s["bias range"] = bias_top / bias_peak
        peak = (peaks or {}).get(lif.name)
        if peak:
            # Half the state range: calibration sees a few samples, not the worst case.
            for key in ("v_max", "current_max"):
                if peak.get(key, 0.0) > 0:
                    limits_s[f"state range ({key})"] = (limits.state_max / 2) / peak[key]
        elif lif.name == part.current_target:
            raise DoesNotFitError(
                f"{lif.name}: the host-in current needs calibration data to choose its scale (use --calibrate N > 0)"
            )
        limited_by, s_max = min(limits_s.items(), key=lambda kv: kv[1])
        vth = math.floor(lif.v_threshold * s_max / INPUT_SHIFT)
        if vth < 1:
            raise DoesNotFitError(
                f"{lif.name}: threshold mantissa v_threshold·S/64 = {lif.v_threshold * s_max / INPUT_SHIFT:.3g} < 1 "
                f"at the largest scale S = {s_max:.4g} allowed by its {limited_by}"
            )
        scale = INPUT_SHIFT * vth / lif.v_threshold
        dv = round(DECAY_UNITY * (1.0 - lif.decay))
        _check(lif.name, "vth", vth, 1, 2**limits.vth_mant_bits - 1)
        _check(lif.name, "dv", dv, 0, 2**limits.decay_bits - 1)
        _check(lif.name, "du", DU_KEEP_NOTHING, 0, 2**limits.decay_bits - 1)
        if lif.name == part.current_target:
            input_scale = scale / INPUT_SHIFT  # a_in = round(current · S / 64), unit weight
        errs, refs, w_max, per_synapse = [], [], 0, {}
        for s in sources:
            w = graph.nodes[s].weight.astype(np.float64)
            if s in identities:
                w_int, weight_exp[s] = quantize_identity(w, scale, in_scales[s], limits, s)
            else:
                w_int = quantize_weight(w, scale, in_scales[s], limits.weight_step)
            w_peak_int = int(np.abs(w_int.astype(np.int64)).max(initial=0))  # int64: |int32 min| overflows int32
            w_max = max(w_max, w_peak_int)
            _check(s, "|weight_int|", w_peak_int, 0, limits.weight_max)
            weight_int[s] = w_int
            errs.append((weight_value(w_int, weight_exp.get(s, 0), scale, in_scales[s]) - w).ravel())
            refs.append(w.ravel())
            per_synapse[s] = _relative_errors(errs[-1], refs[-1])
        err, ref = (np.concatenate(errs), np.concatenate(refs)) if errs else (np.zeros(1), np.ones(1))
        rms_rel, max_rel = _relative_errors(err, ref)
        bias_mant, bias_exp = choose_bias(lif.name, bias_float.astype(np.float64) * scale, limits)
        result[lif.name] = LifQuant(
            name=lif.name, scale=scale, vth=vth, du=DU_KEEP_NOTHING, dv=dv,
            bias_mant=bias_mant, bias_exp=bias_exp, bias_float=bias_float,
            weight_rms_rel_error=rms_rel, weight_max_rel_error=max_rel,
            weight_int_max=w_max,
            v_peak_int=peak["v_max"] * scale if peak else None,
            current_peak_int=peak["current_max"] * scale if peak else None,
            state_max=limits.state_max, limited_by=limited_by, synapse_errors=per_synapse,
        )
    _check_input(part, limits, input_scale, peaks)
    fed = (part.current_target,) if part.current_target else ()
    return Quantized(result, weight_int, input_scale, fed, weight_exp)


def _relative_errors(err: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(rms error / rms weight, max |error| / max |weight|)."""
    rms = float(np.sqrt(np.mean(err**2)) / max(np.sqrt(np.mean(ref**2)), 1e-30))
    return rms, float(np.abs(err).max() / max(np.abs(ref).max(), 1e-30))


def _check_input(part: Partition, limits: FixedPointLimits, input_scale: float, peaks) -> None:
    """The chip's input integers must fit the graded payload (graded) or the 24-bit input current (current)."""
    peak = (peaks or {}).get("input", {}).get("x_max")
    if peak is None:
        return
    bits = input_bits(part.input_mode, limits.graded_spike_bits, limits.state_bits)
    top = input_range(part.input_mode, bits)[1]
    if peak * input_scale > top:
        raise DoesNotFitError(
            f"input: |x_int| reaches {peak * input_scale:.4g} > {top} ({part.input_mode} input, {bits} bits) "
            f"at input.scale = {input_scale:.4g}"
        )
