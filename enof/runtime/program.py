"""The chip part of a bundle as both backends run it: LIF layers and the synapses between them.

Built from a bundle (``chip.nir`` + ``quant.npz``) by ``program_from_bundle`` or directly in
memory (tests). Float fields give the trained network; ``*_int`` fields the target's fixed
point (docs/design.md §6). Shapes are torch layout: (C, H, W) or (N,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from enof.errors import BundleError, UnsupportedModuleError
from enof.formats.identity_synapse import identity_diagonal, is_identity_conv

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
    nir_path: str | Path, quant_path: str | Path, timesteps: int, input_bits: int
) -> ChipProgram:
    """Build the ChipProgram of a bundle's ``chip.nir`` and ``quant.npz`` (docs/design.md §5).

    Weight nodes (Conv2d, Linear, Affine with zero bias) become synapses named by the node; an edge
    Input → LIF is a current synapse; LIFs feeding Output nodes are the outputs. ``input_bits`` is the
    signed width the input integers are clipped to (graded payload or input current).
    """
    import nir  # local: the program contract itself needs no NIR

    try:
        graph = nir.read(str(nir_path))
    except Exception as exc:  # h5py/nir raise many types for a damaged file
        raise BundleError(f"{nir_path}: cannot read NIR ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    quant = _Quant(quant_path)
    sources: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        sources[dst].append(src)
    lif_names = [n for n, node in graph.nodes.items() if isinstance(node, nir.LIF)]
    metadata = dict(graph.metadata or {})
    layers = {}
    for name in _topological(lif_names, sources, graph.nodes, nir):
        layers[name] = _lif_layer(name, graph.nodes[name], quant, metadata)
    synapses = []
    for lif in layers:
        for src in sources[lif]:
            synapses.append(_synapse(src, lif, graph.nodes, sources, quant, nir))
    outputs = [src for name, node in graph.nodes.items() if isinstance(node, nir.Output) for src in sources[name]]
    input_node = graph.nodes.get(INPUT)
    if not isinstance(input_node, nir.Input):
        raise BundleError(f"{nir_path}: no Input node named {INPUT!r}")
    input_shape = tuple(int(d) for d in np.asarray(input_node.input_type["input"]).reshape(-1))
    input_mode = "current" if any(s.kind == "current" for s in synapses) else "graded"
    return ChipProgram(
        timesteps=int(timesteps), input_shape=input_shape, input_mode=input_mode,
        input_scale=float(quant.get("input.scale", "the input")), layers=layers, synapses=synapses,
        outputs=outputs, metadata=metadata, input_bits=int(input_bits),
    )  # fmt: skip


class _Quant:
    def __init__(self, path):
        self.path = Path(path)
        try:
            with np.load(self.path, allow_pickle=False) as data:
                self.arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise BundleError(f"{self.path}: cannot read quant.npz ({exc})") from None

    def get(self, key: str, owner: str) -> np.ndarray:
        if key not in self.arrays:
            raise BundleError(f"{self.path.name}: missing {key!r} for {owner}")
        return self.arrays[key]


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


def _lif_layer(name: str, node, quant: _Quant, metadata: dict) -> LifLayer:
    v_threshold = np.unique(np.asarray(node.v_threshold))
    if v_threshold.size != 1:
        raise UnsupportedModuleError(f"{name}: LIF with per-neuron thresholds is not supported")
    tau = np.asarray(node.tau, dtype=np.float64)
    shape = tuple(int(d) for d in tau.shape)
    decay = float(metadata["decay"]) if "decay" in metadata else float(1.0 - metadata["dt_s"] / tau.reshape(-1)[0])
    owner = f"LIF {name!r}"
    return LifLayer(
        name=name, shape=shape, decay=decay, v_threshold=float(v_threshold[0]),
        bias_float=quant.get(f"{name}.bias_float", owner).astype(np.float32).reshape(shape),
        vth=int(quant.get(f"{name}.vth", owner)), du=int(quant.get(f"{name}.du", owner)),
        dv=int(quant.get(f"{name}.dv", owner)),
        bias_mant=quant.get(f"{name}.bias_mant", owner).astype(np.int32).reshape(shape),
        bias_exp=int(quant.get(f"{name}.bias_exp", owner)), scale=float(quant.get(f"{name}.scale", owner)),
    )  # fmt: skip


def _synapse(src: str, lif: str, nodes, sources, quant: _Quant, nir) -> Synapse:
    node = nodes[src]
    if isinstance(node, nir.Input):
        empty = np.zeros((0,), np.float32)
        return Synapse(f"{INPUT}->{lif}", "current", INPUT, lif, empty, empty.astype(np.int32))
    if not isinstance(node, (nir.Conv2d, nir.Linear, nir.Affine)):
        raise UnsupportedModuleError(f"{src}: NIR node {type(node).__name__} feeding LIF {lif!r} is not supported")
    if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
        raise UnsupportedModuleError(f"{src}: Affine with a bias; the bias belongs in quant.npz <lif>.bias_float")
    (pre,) = sources[src]
    while isinstance(nodes[pre], nir.Flatten):
        (pre,) = sources[pre]
    pre = INPUT if isinstance(nodes[pre], nir.Input) else pre
    owner = f"weight node {src!r}"
    weight = np.asarray(node.weight, dtype=np.float32)
    weight_int = quant.get(f"{src}.weight_int", owner).astype(np.int32)
    weight_exp = int(quant.get(f"{src}.weight_exp", owner))
    if isinstance(node, nir.Conv2d):
        if int(node.groups) != 1 or tuple(np.broadcast_to(node.dilation, 2)) != (1, 1):
            raise UnsupportedModuleError(f"{src}: grouped or dilated convolutions are not supported")
        if isinstance(node.padding, str):
            raise UnsupportedModuleError(f"{src}: string padding {node.padding!r} is not supported")
        pair = lambda v: tuple(int(i) for i in np.broadcast_to(np.asarray(v), 2))  # noqa: E731
        return Synapse(src, "conv", pre, lif, weight, weight_int, weight_exp, pair(node.stride), pair(node.padding))
    return Synapse(src, "dense", pre, lif, weight, weight_int, weight_exp)
