"""chip.nir + quant.npz → ChipProgram: the NIR graph read and checked, node by node (docs/design.md §5).

Each NIR node type that may feed a LIF is read by the synapse kind that names it (``SynapseKind.nir_types``
and ``read_nir`` in enof.synapses: the Input, a current synapse; Conv2d; Linear and Affine, dense), like
Norse's ``import_nir`` table: a new synapse kind brings its own reader. chip.nir holds the float network (weights, biases, LIF parameters); quant.npz its
integers. The file's LIFs have the input gain ``r·dt/tau = r·(1 − decay)`` of NIR's Euler step; the
ChipProgram's float LIF (``v = decay·v + I + bias``) has gain 1, so weights and biases feeding a LIF
are multiplied by that gain, or, for a LIF fed by the input current (unit weight), its threshold is
divided by it. Every problem is one BundleError (or UnsupportedModuleError) line naming the file,
the node or entry, and the limit. Entered through ``program_from_bundle``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nir
import numpy as np

from enof.errors import BundleError, UnsupportedModuleError
from enof.formats.fixed_point import LAVA_STATE_BITS
from enof.formats.quant import FixedPointRanges, QuantFile, open_quant
from enof.runtime.program import INPUT, ChipProgram, LifLayer, Synapse
from enof.synapses import KINDS


def program_from_bundle(
    nir_path: str | Path, quant_path: str | Path, timesteps: int, input_bits: int,
    ranges: FixedPointRanges | None = None, state_bits: int = LAVA_STATE_BITS,
) -> ChipProgram:
    """Build the ChipProgram of a bundle's ``chip.nir`` and ``quant.npz`` (docs/design.md §5), checking both.

    Weight nodes (Conv2d, Linear, Affine) become synapses named by the node, their biases summed into the
    LIF they feed (``LifLayer.bias_float``: chip.nir carries the float network, quant.npz the integers); an edge
    Input → LIF is a current synapse; LIFs feeding Output nodes are the outputs. ``input_bits`` is the
    signed width the input integers are clipped to (graded payload or input current), ``state_bits`` the
    width of u and v (both from the target profile). Checked: node types and edges, every shape against its
    neighbours (a conv's output is its LIF's shape, a dense weight is N_out × N_in), finite float parameters,
    and every quant.npz entry's dtype, shape and (with ``ranges``, the target profile's) integer range; entries
    that no node asks for are refused. A problem is one BundleError (or UnsupportedModuleError) line naming
    the file, the node or entry, and the limit.
    """
    label = str(nir_path)
    try:
        graph = nir.read(str(nir_path))
    except Exception as exc:  # h5py/nir raise many types for a damaged file
        raise BundleError(f"{nir_path}: cannot read NIR ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    with open_quant(quant_path, ranges) as quant:
        try:
            program = build_program(graph, quant, label, int(timesteps), int(input_bits), int(state_bits))
        except ValueError as exc:  # an invariant of LifLayer / Synapse / ChipProgram
            raise BundleError(f"{label}: {str(exc).splitlines()[0]}") from None
        quant.check_all_used()
    return program


def build_program(graph, quant: QuantFile, label: str, timesteps: int, input_bits: int, state_bits: int) -> ChipProgram:
    """The checked ChipProgram of a NIR graph read from ``label`` and its open quant.npz (see program_from_bundle)."""
    nodes = dict(graph.nodes)
    readers = _synapse_readers()
    weight_types = tuple(t for t in readers if t is not nir.Input)
    supported = (nir.Input, nir.Output, *weight_types, *_neurons(), nir.Flatten)
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
        if isinstance(node, weight_types) and [
            isinstance(nodes[t], _neurons()) for t in targets[name]
        ] != [True]:
            raise BundleError(f"{label}: weight node {name!r} feeds {targets[name] or 'nothing'}; it must feed exactly one LIF")
    lif_names = [n for n, node in nodes.items() if isinstance(node, _neurons())]
    metadata = dict(graph.metadata or {})
    layers, weight_gains = {}, {}
    for name in _topological(lif_names, sources, nodes):
        if not sources[name]:
            raise BundleError(f"{label}: LIF {name!r} has no incoming edge")
        current_fed = INPUT in sources[name]
        layers[name], weight_gains[name] = _lif_layer(name, nodes[name], quant, metadata, label, current_fed)
    shapes = {INPUT: input_shape, **{n: layer.shape for n, layer in layers.items()}}
    graph_view = _Graph(nodes, sources, shapes, weight_gains, quant, label)
    layers = {name: replace(layer, bias_float=_lif_bias(name, graph_view)) for name, layer in layers.items()}
    synapses = [_synapse(src, lif, graph_view, readers) for lif in layers for src in sources[lif]]
    outputs = [src for name, node in nodes.items() if isinstance(node, nir.Output) for src in sources[name]]
    for src in outputs:
        if src not in layers:
            raise BundleError(f"{label}: {src!r} feeds an Output node but is not a LIF (the chip outputs spikes)")
    if not outputs:
        raise BundleError(f"{label}: no LIF feeds an Output node (the chip would return nothing)")
    input_mode = "current" if any(s.kind == "current" for s in synapses) else _on_chip_input_mode(metadata, label)
    return ChipProgram(
        timesteps=timesteps, input_shape=input_shape, input_mode=input_mode,
        input_scale=quant.number("input.scale", "the input", positive=True), layers=layers, synapses=synapses,
        outputs=outputs, metadata=metadata, input_bits=input_bits, state_bits=state_bits,
    )  # fmt: skip


def _on_chip_input_mode(metadata: dict, label: str) -> str:
    """Graded or binary spikes into the first synapses: wired alike, told apart by the graph's
    ``input_mode`` metadata (absent in graphs from before binary input: graded)."""
    mode = metadata.get("input_mode", "graded")
    if mode not in ("graded", "spikes"):
        raise BundleError(f"{label}: metadata input_mode is {mode!r}, but the input feeds synapses on the chip "
                          "(expected 'graded' or 'spikes')")
    return mode


def _neurons() -> tuple[type, ...]:
    """The NIR neuron types a chip layer is written as: LIF, and IF for a layer without leak (decay 1)."""
    return (nir.LIF, nir.IF)


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


def _topological(lifs, sources, nodes) -> list[str]:
    """LIFs ordered so that every LIF comes after the LIFs that feed it (through weights and Flatten)."""

    def upstream_lifs(name, seen=()):
        found = set()
        for src in sources[name]:
            if isinstance(nodes[src], _neurons()):
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


def _lif_layer(name: str, node, quant: QuantFile, metadata: dict, label: str, current_fed: bool) -> tuple[LifLayer, float]:
    """The LifLayer of NIR LIF (or IF) ``name`` (bias still zero: ``_lif_bias``) and the gain its incoming weights take."""
    leaky = isinstance(node, nir.LIF)
    what = f"{'LIF' if leaky else 'IF'} {name!r}"
    shaped = node.tau if leaky else node.v_threshold
    tau = _finite(shaped, label, f"{what} {'tau' if leaky else 'v_threshold'}", positive=True)
    if tau.ndim == 0 or tau.size == 0:
        raise BundleError(f"{label}: {what} tau has shape {tau.shape}, expected the layer's shape")
    shape = tuple(int(d) for d in tau.shape)
    for field in ("v_leak", "v_reset"):
        if getattr(node, field, None) is None:  # an IF has no v_leak
            continue
        values = _finite(getattr(node, field), label, f"{what} {field}")
        if values.any():
            raise UnsupportedModuleError(
                f"{name}: LIF {field} = {values[values != 0].flat[0]:.6g}; the chip's LIF leaks to 0 and resets to 0 "
                f"({field} = 0)"
            )
    v_threshold, r = (_uniform(name, field, _finite(getattr(node, field), label, f"{what} {field}", positive=True))
                      for field in ("v_threshold", "r"))  # fmt: skip
    if leaky:
        node_decay = (node.metadata or {}).get("decay")  # each LIF's own, where the graph's layers differ
        if node_decay is not None and "decay" not in metadata:
            metadata = {**metadata, "decay": node_decay}
        decay = _decay(name, tau, metadata, label)
        gain = r * (1.0 - decay)  # NIR's Euler input gain r·dt/tau; the program's float LIF has gain 1
    else:  # IF: dv/dt = r·I, the Euler step v ← v + dt_s·r·I
        if "dt_s" not in metadata:
            raise BundleError(f"{label}: graph metadata has no dt_s, which an IF layer ({name!r}) needs")
        decay = 1.0
        gain = r * float(_finite(metadata["dt_s"], label, "graph metadata dt_s", positive=True).reshape(-1)[0])
    weight_gain = 1.0 if current_fed else gain  # the current synapse has unit weight: the threshold takes it
    owner, ranges = what, quant.ranges
    layer = LifLayer(
        name=name, shape=shape, decay=decay, v_threshold=v_threshold * weight_gain / gain,
        bias_float=np.zeros(shape, np.float32),
        vth=quant.integer(f"{name}.vth", owner, ranges and ranges.vth),
        du=quant.integer(f"{name}.du", owner, ranges and ranges.decay),
        dv=quant.integer(f"{name}.dv", owner, ranges and ranges.decay),
        bias_mant=quant.integers(f"{name}.bias_mant", owner, shape, ranges and ranges.bias_mant).astype(np.int32),
        bias_exp=quant.integer(f"{name}.bias_exp", owner, ranges and ranges.bias_exp),
        scale=quant.number(f"{name}.scale", owner, positive=True),
    )  # fmt: skip
    return layer, weight_gain


def _uniform(name: str, field: str, values: np.ndarray) -> float:
    unique = np.unique(values)
    if unique.size != 1:
        raise UnsupportedModuleError(f"{name}: LIF {field} differs between neurons ({unique.size} values); the chip needs one per layer")
    return float(unique[0])


def _decay(name: str, tau: np.ndarray, metadata: dict, label: str) -> float:
    """The layer's decay: graph metadata ``decay`` (exact), which must agree with ``1 − dt_s/tau`` where
    ``dt_s`` is given (to 1e-6: tau is stored in float32, 6e-8 relative); else ``1 − dt_s/tau``."""
    what = f"LIF {name!r}"
    if "dt_s" not in metadata and "decay" not in metadata:
        raise BundleError(f"{label}: graph metadata has neither decay nor dt_s")
    from_tau = None
    if "dt_s" in metadata:
        dt_s = float(_finite(metadata["dt_s"], label, "graph metadata dt_s", positive=True).reshape(-1)[0])
        per_neuron = 1.0 - dt_s / tau
        if np.ptp(per_neuron) > 1e-6:
            raise UnsupportedModuleError(f"{name}: LIF tau differs between neurons; the chip needs one decay per layer")
        from_tau = float(per_neuron.reshape(-1)[0])
    decay = from_tau
    if "decay" in metadata:
        decay = float(_finite(metadata["decay"], label, "graph metadata decay").reshape(-1)[0])
        if from_tau is not None and abs(decay - from_tau) > 1e-6:
            raise BundleError(
                f"{label}: {what} tau gives decay 1 − dt_s/tau = {from_tau:.7g}, but the graph metadata says decay {decay!r}"
            )
    if not 0.0 <= decay <= 1.0:
        raise BundleError(f"{label}: {what} decay {decay!r} is outside [0, 1]")
    return decay


def _lif_bias(lif: str, g: "_Graph") -> np.ndarray:
    """The sum of the biases of the weight nodes feeding ``lif``, times their gain, in the LIF's shape."""
    shape = g.shapes[lif]
    total = np.zeros(shape, np.float64)
    for src in g.sources[lif]:
        bias = getattr(g.nodes[src], "bias", None)
        if bias is None:  # the input current, a Linear
            continue
        bias = _finite(bias, g.label, f"weight node {src!r} bias")
        if bias.shape != (shape[0],):
            raise BundleError(f"{g.label}: weight node {src!r} bias has shape {bias.shape}, expected ({shape[0]},) for LIF {lif!r} {shape}")
        total += bias.reshape(-1, *([1] * (len(shape) - 1))) * g.weight_gains[lif]
    return total.astype(np.float32)


@dataclass(frozen=True)
class _Graph:
    """What a kind's NIR reader (``SynapseKind.read_nir``) looks at: the nodes, each node's sources, the LIF
    shapes, quant.npz; and the helpers every reader shares."""

    nodes: dict[str, Any]
    sources: dict[str, list[str]]
    shapes: dict[str, tuple[int, ...]]  # INPUT and every LIF
    weight_gains: dict[str, float]  # per LIF: the factor from chip.nir's weights and biases to the program's
    quant: QuantFile
    label: str

    def presynaptic(self, src: str) -> str:
        """The LIF (or INPUT) whose output reaches the weight node ``src``, through any Flatten nodes."""
        pre, seen = src, {src}
        while True:
            if len(self.sources[pre]) != 1:
                raise BundleError(f"{self.label}: node {pre!r} has {len(self.sources[pre])} inputs, expected 1")
            (pre,) = self.sources[pre]
            if not isinstance(self.nodes[pre], nir.Flatten) or pre in seen:
                break
            seen.add(pre)
        if not isinstance(self.nodes[pre], (*_neurons(), nir.Input)):
            raise BundleError(f"{self.label}: weight node {src!r} is fed by the {type(self.nodes[pre]).__name__} {pre!r}, "
                              "expected a LIF or the input")
        return INPUT if isinstance(self.nodes[pre], nir.Input) else pre

    def weight(self, src: str, lif: str) -> np.ndarray:
        """The program's float weight of ``src``: chip.nir's times the gain of the LIF it feeds."""
        weight = _finite(self.nodes[src].weight, self.label, f"weight node {src!r} weight")
        return (weight * self.weight_gains[lif]).astype(np.float32)

    def integers(self, src: str, weight: np.ndarray) -> tuple[np.ndarray, int]:
        """quant.npz's weight_int (the float weight's shape) and weight_exp of the weight node ``src``."""
        owner, r = f"weight node {src!r}", self.quant.ranges
        weight_int = self.quant.integers(f"{src}.weight_int", owner, weight.shape, r and r.weight).astype(np.int32)
        return weight_int, self.quant.integer(f"{src}.weight_exp", owner, r and r.weight_exp)

    @staticmethod
    def synapse(name: str, connection, weight, weight_int, weight_exp: int) -> Synapse:
        """The program's Synapse (a reader builds it here: enof.synapses imports no runtime module)."""
        return Synapse(name, connection, weight, weight_int, weight_exp)


def _synapse_readers() -> dict[type, Callable[[str, str, _Graph], Synapse]]:
    """NIR node type feeding a LIF → the reader of the synapse kind that reads it (enof.synapses.KINDS)."""
    return {node_type: kind.read_nir for kind in KINDS.values() for node_type in kind.nir_types()}


def _synapse(src: str, lif: str, g: _Graph, readers) -> Synapse:
    node = g.nodes[src]
    read = next((reader for kind, reader in readers.items() if isinstance(node, kind)), None)
    if read is None:
        raise UnsupportedModuleError(f"{src}: NIR node {type(node).__name__} feeding LIF {lif!r} is not supported")
    return read(src, lif, g)
