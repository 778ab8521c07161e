"""The chip part of a bundle as both backends run it: LIF layers and the synapses between them.

Built from a bundle (``chip.nir`` + ``quant.npz``) by ``program_from_bundle`` or directly in
memory (tests). Float fields give the trained network; ``*_int`` fields the target's fixed
point (docs/design.md §6). Shapes are torch layout: (C, H, W) or (N,).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from enof.errors import BundleError, UnsupportedModuleError
from enof.formats.identity_synapse import identity_diagonal, is_identity_conv
from enof.formats.quant import FixedPointRanges, QuantFile, open_quant

INPUT = "input"

SynapseKind = Literal["conv", "dense", "current"]


@dataclass(frozen=True)
class LifLayer:
    """A population of EnOF LIF neurons. Float: v = decay·v + I + bias; s = v > v_threshold; v[s] = 0.

    Fixed (Lava PyLifModelBitAcc): u = a_in << 6 (du = 4095), v = clip(v·(4096 − dv) >> 12 + u + bias_mant·2^bias_exp),
    s = v > vth << 6, v[s] = 0.
    """

    name: str
    shape: tuple[int, ...]
    decay: float
    v_threshold: float
    bias_float: np.ndarray  # float32, shape
    vth: int
    du: int
    dv: int
    bias_mant: np.ndarray  # int32, shape
    bias_exp: int
    scale: float  # v units (fixed) per float unit

    def __post_init__(self):
        if tuple(self.bias_float.shape) != tuple(self.shape):
            raise ValueError(f"{self.name}: bias_float shape {self.bias_float.shape} != {self.shape}")
        if tuple(self.bias_mant.shape) != tuple(self.shape):
            raise ValueError(f"{self.name}: bias_mant shape {self.bias_mant.shape} != {self.shape}")

    @property
    def neurons(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Synapse:
    """Weights from ``source`` (INPUT or a LIF name) into the LIF ``target``.

    conv: torch Conv2d semantics (cross-correlation), weight (C_out, C_in, kH, kW). ``weight_exp`` must be 0
          (Lava's CPU Conv ignores it) except for an identity conv (``is_identity``), which runs as a
          Lava Sparse diagonal: a_out = (w_c · s) << weight_exp (or >> −weight_exp), like Dense.
    dense: weight (N_out, N_in); the source is flattened in torch (C, H, W) order.
    current: identity, unit weight; the source (INPUT, host-in output) is added to the target's input
             current every step (Loihi 1 current mode).
    """

    name: str
    kind: SynapseKind
    source: str
    target: str
    weight: np.ndarray  # float32 (trained, BN folded); for "current" an empty array
    weight_int: np.ndarray  # int32, same shape as weight
    weight_exp: int = 0
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    num_weight_bits: int = 8  # Lava Dense proc param; a MIXED-sign dense layer keeps num_weight_bits - 1 bits

    def __post_init__(self):
        if self.kind not in ("conv", "dense", "current"):
            raise ValueError(f"{self.name}: unknown synapse kind {self.kind!r}")
        if self.weight.shape != self.weight_int.shape:
            raise ValueError(f"{self.name}: weight {self.weight.shape} != weight_int {self.weight_int.shape}")
        if self.kind == "conv" and self.weight_exp != 0 and not self.is_identity:
            # Lava's CPU Conv models ignore weight_exp (lava.md): the scale must live elsewhere.
            raise ValueError(f"{self.name}: conv weight_exp must be 0, got {self.weight_exp}")

    @property
    def is_identity(self) -> bool:
        """A 1×1, stride-1, unpadded conv whose float and integer weights are diagonal (C_out == C_in)."""
        return (
            self.kind == "conv"
            and is_identity_conv(self.weight, self.stride, self.padding)
            and is_identity_conv(self.weight_int, self.stride, self.padding)
        )

    @property
    def diagonal_int(self) -> np.ndarray:
        """The per-channel integer weights (C,) of an identity conv."""
        if not self.is_identity:
            raise ValueError(f"{self.name}: not an identity conv")
        return identity_diagonal(self.weight_int)


@dataclass(frozen=True)
class ChipProgram:
    """The whole chip part: layers and synapses in topological order."""

    timesteps: int
    input_shape: tuple[int, ...]
    input_mode: Literal["graded", "current"]
    input_scale: float  # x_int = clip(round(x_float * input_scale))
    layers: dict[str, LifLayer]
    synapses: list[Synapse]
    outputs: list[str]
    metadata: dict = field(default_factory=dict)
    input_bits: int = 24  # x_int is clipped to a signed input_bits integer (graded payload / current)

    def __post_init__(self):
        known = {INPUT, *self.layers}
        for syn in self.synapses:
            if syn.source not in known or syn.target not in self.layers:
                raise ValueError(f"{syn.name}: unknown source {syn.source!r} or target {syn.target!r}")
        for out in self.outputs:
            if out not in self.layers:
                raise ValueError(f"output {out!r} is not a LIF layer")

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """x_int = clip(round(x · input_scale)) to a signed ``input_bits`` integer, int64, same shape as x."""
        limit = 2 ** (self.input_bits - 1)
        x_int = np.rint(np.asarray(x, dtype=np.float64) * self.input_scale)
        return np.clip(x_int, -limit, limit - 1).astype(np.int64)

    def shape_of(self, name: str) -> tuple[int, ...]:
        return self.input_shape if name == INPUT else self.layers[name].shape

    def incoming(self, lif_name: str) -> list[Synapse]:
        return [s for s in self.synapses if s.target == lif_name]

    def depths(self) -> dict[str, int]:
        """Synaptic depth of each LIF (input = 0): the longest path in synapses (Lava adds one step per synapse)."""
        depth = {INPUT: 0}
        for name in self.layers:  # layers are in topological order
            depth[name] = 1 + max(depth[s.source] for s in self.incoming(name))
        return depth


@dataclass
class ChipRun:
    """What a backend returns for a batch, in aligned time (the contract of both backends).

    outputs: per output LIF name, float32 0/1 spikes (T, B, *shape).
    spike_counts: per LIF name, int64 spikes per neuron (the LIF's shape), summed over T and B.
    input_nonzero: int64 (input_shape): how many non-zero input values each input element sent,
        summed over T and B (graded payloads or currents; the synop count of the input synapses).
    spikes: optional per LIF name, all spikes (T, B, *shape) as uint8 (tests, small runs).
    """

    outputs: dict[str, np.ndarray]
    spike_counts: dict[str, np.ndarray]
    input_nonzero: np.ndarray
    spikes: dict[str, np.ndarray] | None = None


# ---------------------------------------------------------------- from a bundle (chip.nir + quant.npz)
def program_from_bundle(
    nir_path: str | Path, quant_path: str | Path, timesteps: int, input_bits: int,
    ranges: FixedPointRanges | None = None,
) -> ChipProgram:
    """Build the ChipProgram of a bundle's ``chip.nir`` and ``quant.npz`` (docs/design.md §5), checking both.

    Weight nodes (Conv2d, Linear, Affine with zero bias) become synapses named by the node; an edge
    Input → LIF is a current synapse; LIFs feeding Output nodes are the outputs. ``input_bits`` is the
    signed width the input integers are clipped to (graded payload or input current). Checked: node
    types and edges, every shape against its neighbours (a conv's output is its LIF's shape, a dense
    weight is N_out × N_in), finite float parameters, and every quant.npz entry's dtype, shape and (with
    ``ranges``, the target profile's) integer range; entries that no node asks for are refused. A problem
    is one BundleError (or UnsupportedModuleError) line naming the file, the node or entry, and the limit.
    """
    import nir  # local: the program contract itself needs no NIR

    label = str(nir_path)
    try:
        graph = nir.read(str(nir_path))
    except Exception as exc:  # h5py/nir raise many types for a damaged file
        raise BundleError(f"{nir_path}: cannot read NIR ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    with open_quant(quant_path, ranges) as quant:
        try:
            program = _build(graph, quant, label, int(timesteps), int(input_bits), nir)
        except ValueError as exc:  # an invariant of LifLayer / Synapse / ChipProgram
            raise BundleError(f"{label}: {str(exc).splitlines()[0]}") from None
        quant.check_all_used()
    return program


def _build(graph, quant: QuantFile, label: str, timesteps: int, input_bits: int, nir) -> ChipProgram:
    nodes = dict(graph.nodes)
    supported = (nir.Input, nir.Output, nir.Conv2d, nir.Linear, nir.Affine, nir.LIF, nir.Flatten)
    for name, node in nodes.items():
        if not isinstance(node, supported):
            raise UnsupportedModuleError(
                f"{label}: node {name!r} is a NIR {type(node).__name__}; chip.nir holds only "
                + ", ".join(t.__name__ for t in supported)
            )
    sources: dict[str, list[str]] = {name: [] for name in nodes}
    targets: dict[str, list[str]] = {name: [] for name in nodes}
    edges = [tuple(edge) for edge in graph.edges]
    for src, dst in edges:
        if src not in nodes or dst not in nodes:
            raise BundleError(f"{label}: edge {src!r} -> {dst!r} names a node that is not in the graph")
        sources[dst].append(src)
        targets[src].append(dst)
    if len(set(edges)) != len(edges):
        raise BundleError(f"{label}: an edge is listed twice")
    input_node = nodes.get(INPUT)
    if not isinstance(input_node, nir.Input):
        raise BundleError(f"{label}: no Input node named {INPUT!r}")
    input_shape = _nir_shape(dict(input_node.input_type).get("input"), label, f"Input {INPUT!r} input_type")
    others = [name for name, node in nodes.items() if isinstance(node, nir.Input) and name != INPUT]
    if others:  # NIR adds such nodes where an edge is missing
        raise BundleError(f"{label}: {others[0]!r} is a second Input node; the chip has one input, {INPUT!r}")
    for name, node in nodes.items():
        if isinstance(node, (nir.Conv2d, nir.Linear, nir.Affine)) and [
            isinstance(nodes[t], nir.LIF) for t in targets[name]
        ] != [True]:
            raise BundleError(f"{label}: weight node {name!r} feeds {targets[name] or 'nothing'}; it must feed exactly one LIF")
    lif_names = [n for n, node in nodes.items() if isinstance(node, nir.LIF)]
    metadata = dict(graph.metadata or {})
    layers = {}
    for name in _topological(lif_names, sources, nodes, nir):
        if not sources[name]:
            raise BundleError(f"{label}: LIF {name!r} has no incoming edge")
        layers[name] = _lif_layer(name, nodes[name], quant, metadata, label)
    shapes = {INPUT: input_shape, **{n: layer.shape for n, layer in layers.items()}}
    synapses = []
    for lif in layers:
        for src in sources[lif]:
            synapses.append(_synapse(src, lif, nodes, sources, quant, nir, label, shapes))
    outputs = [src for name, node in nodes.items() if isinstance(node, nir.Output) for src in sources[name]]
    for src in outputs:
        if src not in layers:
            raise BundleError(f"{label}: {src!r} feeds an Output node but is not a LIF (the chip outputs spikes)")
    if not outputs:
        raise BundleError(f"{label}: no LIF feeds an Output node (the chip would return nothing)")
    input_mode = "current" if any(s.kind == "current" for s in synapses) else "graded"
    return ChipProgram(
        timesteps=timesteps, input_shape=input_shape, input_mode=input_mode,
        input_scale=quant.number("input.scale", "the input", positive=True), layers=layers, synapses=synapses,
        outputs=outputs, metadata=metadata, input_bits=input_bits,
    )  # fmt: skip


def _nir_shape(value, label: str, what: str) -> tuple[int, ...]:
    """A tensor shape stored in NIR: a non-empty 1-D array of positive integers."""
    try:
        array = np.asarray(value)
        ok = array.ndim == 1 and array.size > 0 and array.dtype.kind in "iu" and bool((array >= 1).all())
    except (TypeError, ValueError):
        ok = False
    if value is None or not ok:
        raise BundleError(f"{label}: {what} is {value!r}, expected a shape (positive integers)")
    return tuple(int(d) for d in array)


def _finite(value, label: str, what: str, positive: bool = False) -> np.ndarray:
    """A NIR float parameter as float64; every value finite (and > 0 if ``positive``)."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise BundleError(f"{label}: {what} is not numeric") from None
    bad = ~np.isfinite(array) | ((array <= 0) if positive else False)
    if bad.any():
        raise BundleError(f"{label}: {what} holds {array[bad].flat[0]!r}, expected {'finite values > 0' if positive else 'finite values'}")
    return array


def _topological(lifs, sources, nodes, nir) -> list[str]:
    """LIFs ordered so that every LIF comes after the LIFs that feed it (through weights and Flatten)."""

    def upstream_lifs(name, seen=()):
        found = set()
        for src in sources[name]:
            if isinstance(nodes[src], nir.LIF):
                found.add(src)
            elif src not in seen and not isinstance(nodes[src], nir.Input):
                found |= upstream_lifs(src, (*seen, name))
        return found

    deps = {lif: upstream_lifs(lif) for lif in lifs}
    ordered: list[str] = []
    while len(ordered) < len(lifs):
        ready = [lif for lif in lifs if lif not in ordered and deps[lif] <= set(ordered)]
        if not ready:
            raise UnsupportedModuleError(f"chip.nir: recurrent LIF connections are not supported ({sorted(deps)})")
        ordered.extend(ready)
    return ordered


def _lif_layer(name: str, node, quant: QuantFile, metadata: dict, label: str) -> LifLayer:
    what = f"LIF {name!r}"
    v_threshold = np.unique(_finite(node.v_threshold, label, f"{what} v_threshold", positive=True))
    if v_threshold.size != 1:
        raise UnsupportedModuleError(f"{name}: LIF with per-neuron thresholds is not supported")
    tau = _finite(node.tau, label, f"{what} tau", positive=True)
    if tau.ndim == 0 or tau.size == 0:
        raise BundleError(f"{label}: {what} tau has shape {tau.shape}, expected the layer's shape")
    shape = tuple(int(d) for d in tau.shape)
    if "decay" in metadata:
        decay = float(_finite(metadata["decay"], label, "graph metadata decay").reshape(-1)[0])
    else:
        if "dt_s" not in metadata:
            raise BundleError(f"{label}: graph metadata has neither decay nor dt_s")
        decay = float(1.0 - _finite(metadata["dt_s"], label, "graph metadata dt_s", positive=True).reshape(-1)[0] / tau.reshape(-1)[0])
    if not 0.0 <= decay <= 1.0:
        raise BundleError(f"{label}: {what} decay {decay!r} is outside [0, 1]")
    owner, r = what, quant.ranges
    return LifLayer(
        name=name, shape=shape, decay=decay, v_threshold=float(v_threshold[0]),
        bias_float=quant.floats(f"{name}.bias_float", owner, shape, dtype=np.float32),
        vth=quant.integer(f"{name}.vth", owner, r and r.vth),
        du=quant.integer(f"{name}.du", owner, r and r.decay),
        dv=quant.integer(f"{name}.dv", owner, r and r.decay),
        bias_mant=quant.integers(f"{name}.bias_mant", owner, shape, r and r.bias_mant).astype(np.int32),
        bias_exp=quant.integer(f"{name}.bias_exp", owner, r and r.bias_exp),
        scale=quant.number(f"{name}.scale", owner, positive=True),
    )  # fmt: skip


def _synapse(src: str, lif: str, nodes, sources, quant: QuantFile, nir, label: str, shapes) -> Synapse:
    node, target_shape = nodes[src], shapes[lif]
    if isinstance(node, nir.Input):
        if shapes[INPUT] != target_shape:
            raise BundleError(f"{label}: the input {shapes[INPUT]} feeds LIF {lif!r} {target_shape} as current; shapes differ")
        empty = np.zeros((0,), np.float32)
        return Synapse(f"{INPUT}->{lif}", "current", INPUT, lif, empty, empty.astype(np.int32))
    if not isinstance(node, (nir.Conv2d, nir.Linear, nir.Affine)):
        raise UnsupportedModuleError(f"{src}: NIR node {type(node).__name__} feeding LIF {lif!r} is not supported")
    if isinstance(node, nir.Affine) and np.any(_finite(node.bias, label, f"Affine {src!r} bias") != 0):
        raise UnsupportedModuleError(f"{src}: Affine with a bias; the bias belongs in quant.npz <lif>.bias_float")
    pre, seen = src, {src}
    while True:
        if len(sources[pre]) != 1:
            raise BundleError(f"{label}: node {pre!r} has {len(sources[pre])} inputs, expected 1")
        (pre,) = sources[pre]
        if not isinstance(nodes[pre], nir.Flatten) or pre in seen:
            break
        seen.add(pre)
    if not isinstance(nodes[pre], (nir.LIF, nir.Input)):
        raise BundleError(f"{label}: weight node {src!r} is fed by the {type(nodes[pre]).__name__} {pre!r}, expected a LIF or the input")
    pre = INPUT if isinstance(nodes[pre], nir.Input) else pre
    weight = _finite(node.weight, label, f"weight node {src!r} weight").astype(np.float32)
    source_shape = shapes[pre]
    if isinstance(node, nir.Conv2d):
        stride, padding = _conv_geometry(src, node, label)
        want = _conv_output_shape(weight.shape, source_shape, stride, padding)
        if want != target_shape:
            raise BundleError(
                f"{label}: conv {src!r} with weight {weight.shape}, stride {stride} and padding {padding} maps "
                f"{pre!r} {source_shape} to {want or 'nothing'}, but feeds LIF {lif!r} {target_shape}"
            )
    elif weight.shape != (int(np.prod(target_shape)), int(np.prod(source_shape))):
        raise BundleError(
            f"{label}: dense {src!r} weight {weight.shape} does not map {pre!r} {source_shape} to LIF {lif!r} "
            f"{target_shape} (expected {(int(np.prod(target_shape)), int(np.prod(source_shape)))})"
        )
    owner, r = f"weight node {src!r}", quant.ranges
    weight_int = quant.integers(f"{src}.weight_int", owner, weight.shape, r and r.weight).astype(np.int32)
    weight_exp = quant.integer(f"{src}.weight_exp", owner, r and r.weight_exp)
    if isinstance(node, nir.Conv2d):
        synapse = Synapse(src, "conv", pre, lif, weight, weight_int, 0, stride, padding)
        if weight_exp != 0 and not synapse.is_identity:
            raise BundleError(
                f"{quant.label}: {src}.weight_exp holds {weight_exp}, but only an identity shortcut conv may carry "
                "one (Lava's Conv ignores weight_exp): it must be 0"
            )
        return replace(synapse, weight_exp=weight_exp)
    return Synapse(src, "dense", pre, lif, weight, weight_int, weight_exp)


def _conv_geometry(src: str, node, label: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if np.asarray(node.groups).size != 1 or int(np.asarray(node.groups)) != 1 or tuple(np.broadcast_to(node.dilation, 2)) != (1, 1):
        raise UnsupportedModuleError(f"{src}: grouped or dilated convolutions are not supported")
    if isinstance(node.padding, str):
        raise UnsupportedModuleError(f"{src}: string padding {node.padding!r} is not supported")
    try:
        stride, padding = (tuple(int(i) for i in np.broadcast_to(np.asarray(v), 2)) for v in (node.stride, node.padding))
    except (TypeError, ValueError):
        raise BundleError(f"{label}: conv {src!r} stride {node.stride!r} or padding {node.padding!r} is not a pair of integers") from None
    if min(stride) < 1 or min(padding) < 0:
        raise BundleError(f"{label}: conv {src!r} stride {stride} must be ≥ 1 and padding {padding} ≥ 0")
    return stride, padding


def _conv_output_shape(weight_shape, source_shape, stride, padding) -> tuple[int, ...] | None:
    """(C_out, H_out, W_out) of a conv on a (C_in, H, W) source, or None when the shapes do not fit."""
    if len(weight_shape) != 4 or len(source_shape) != 3 or weight_shape[1] != source_shape[0]:
        return None
    out = [(source_shape[1 + d] + 2 * padding[d] - weight_shape[2 + d]) // stride[d] + 1 for d in range(2)]
    return (int(weight_shape[0]), *out) if min(out) >= 1 else None
