"""What a NIR graph from another tool says about itself, checked before its nodes are mapped
(enof.exporter.from_nir): its time step and steps per sample (metadata), how it resets, node names.

NIR's neurons are continuous-time; run as one forward-Euler step of ``dt_s`` per time step they give
another network for every ``dt_s``. So ``dt_s`` comes from the graph's metadata or from the caller, never a
default (an snnTorch graph written for 1e-4 s and a Norse graph for 1e-3 s look alike otherwise).
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import nir
import numpy as np

from enof.errors import UnsupportedModuleError
from enof.formats.manifest import MAX_TIMESTEPS, TIMESTEPS_WHY

# The step each tool's NIR convention is written for (docs/nir.md): what the --dt-s refusal suggests.
DT_HINT = "snnTorch writes for 1e-4 s, Norse's from_nir runs 1e-3 s"
ZERO_RESETS = ("zero", "reset-to-zero")


def _number(value) -> float | None:
    """A real number stored as metadata (a Python or NumPy scalar, or a 0-d/one-element array), else None."""
    array = np.asarray(value)
    if array.dtype.kind not in "iuf" or array.size != 1:
        return None
    number = float(array.reshape(-1)[0])
    return number if math.isfinite(number) else None


def graph_timesteps_and_dt(nir_graph: nir.NIRGraph, where: str | Path, timesteps: int | None, dt_s: float | None) -> tuple[int, float]:
    """(steps per sample, Euler step in seconds): the caller's, else the graph metadata's ``timesteps`` and
    ``dt_s``; one line naming the file and the flag when neither gives a usable value."""
    metadata = nir_graph.metadata or {}
    if timesteps is None:
        if "timesteps" not in metadata:
            raise UnsupportedModuleError(f"{where}: the graph does not say how many time steps a sample runs; pass --timesteps")
        steps = _number(metadata["timesteps"])
        if steps is None or steps != int(steps) or not 1 <= steps <= MAX_TIMESTEPS:
            raise UnsupportedModuleError(
                f"{where}: graph metadata timesteps = {metadata['timesteps']!r}, not a whole number in [1, {MAX_TIMESTEPS}] "
                f"({TIMESTEPS_WHY}); pass --timesteps"
            )
        timesteps = int(steps)
    elif isinstance(timesteps, bool) or not isinstance(timesteps, numbers.Integral) or not 1 <= timesteps <= MAX_TIMESTEPS:
        raise UnsupportedModuleError(f"timesteps = {timesteps!r}: needs a whole number in [1, {MAX_TIMESTEPS}] ({TIMESTEPS_WHY})")
    if dt_s is None:
        if "dt_s" not in metadata:
            low, high = valid_dt_range(nir_graph)
            span = f"; its time constants allow a dt_s in ({low:g}, {high:g}]" if math.isfinite(high) else ""
            raise UnsupportedModuleError(
                f"{where}: the graph's metadata has no dt_s, and NIR's neurons are continuous-time, so the time step "
                f"decides what runs — pass the dt it was written for with --dt-s ({DT_HINT}){span}"
            )
        dt_s = _number(metadata["dt_s"])
        if dt_s is None or dt_s <= 0:
            raise UnsupportedModuleError(f"{where}: graph metadata dt_s = {metadata['dt_s']!r}, not a number > 0 (seconds); pass --dt-s")
    elif isinstance(dt_s, bool) or not isinstance(dt_s, numbers.Real) or not math.isfinite(dt_s) or dt_s <= 0:
        raise UnsupportedModuleError(f"dt_s = {dt_s!r}: needs a finite number of seconds > 0")
    return int(timesteps), float(dt_s)


def valid_dt_range(nir_graph: nir.NIRGraph) -> tuple[float, float]:
    """The dt_s that give every LIF and CubaLIF of the graph 0 < dt/tau ≤ 1: (0, smallest tau] (inf: none)."""
    taus = []
    for node in nir_graph.nodes.values():
        for field_name in ("tau", "tau_mem"):
            if isinstance(node, (nir.LIF, nir.CubaLIF)) and hasattr(node, field_name):
                values = np.asarray(getattr(node, field_name), np.float64)
                taus.extend(values[np.isfinite(values) & (values > 0)].reshape(-1).tolist())
    return 0.0, min(taus, default=math.inf)


def refuse_subtract_reset(nir_graph: nir.NIRGraph, name: str, node: nir.NIRNode) -> None:
    """A neuron that resets by subtraction (graph or node metadata ``reset``) is refused by its name: the chip
    resets to zero, and running it so would give other spikes without a word."""
    for where, metadata in (("node", getattr(node, "metadata", None)), ("graph", nir_graph.metadata)):
        reset = (metadata or {}).get("reset", "zero")
        if str(reset).lower() not in ZERO_RESETS:
            raise UnsupportedModuleError(
                f"{name}: {where} metadata reset={reset!r} (reset by subtraction); the chip resets to zero — retrain with "
                "reset to zero (snnTorch reset_mechanism='zero', SpikingJelly v_reset=0.0)"
            )


def onnx_safe_names(nir_graph: nir.NIRGraph) -> tuple[nir.NIRGraph, dict[str, str]]:
    """The graph with every all-digit node name (an ``nn.Sequential``'s "0", "1", ...: torch.onnx refuses
    them as tensor names) renamed ``<node type><name>`` ("3" → "lif3"), and {new name: NIR name}."""
    renamed = {}
    taken = set(nir_graph.nodes)
    for name, node in nir_graph.nodes.items():
        if name.isdigit():
            new = f"{type(node).__name__.lower()}{name}"
            while new in taken:
                new = f"{new}_"
            renamed[name] = new
            taken.add(new)
    if not renamed:
        return nir_graph, {}
    nodes = {renamed.get(n, n): node for n, node in nir_graph.nodes.items()}
    edges = [(renamed.get(a, a), renamed.get(b, b)) for a, b in nir_graph.edges]
    graph = nir.NIRGraph(nodes, edges, metadata=dict(nir_graph.metadata or {}), type_check=False)
    return graph, {new: old for old, new in renamed.items()}
