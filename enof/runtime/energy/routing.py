"""Where a chip's spikes go: destination cores and mesh hops per spike, and synapse counts (docs/energy.md).

A spike of a core is sent once to every destination core that holds at least one neuron the spiking
neuron connects to (enof.synapses.reach; conv: the outputs whose receptive field covers it; dense:
every neuron of the target). The counts give spikes per core, not per neuron, so the neurons of a
core are taken to fire equally often ("geometric"). Core ranges are in placement.json's
channels-last order; every index here is a flat torch (C, H, W) index, mapped with
enof.formats.placement.core_neuron_indices. "all-cores" sends every spike to every core of the
layers its layer feeds: an upper bound. Chips continue the mesh of tiles (chip c sits at
c % chips_x, c // chips_x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from enof import synapses
from enof.errors import RunResultError
from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.synapses import Connection

INPUT = "input"
Routing = Literal["geometric", "all-cores"]


@dataclass(frozen=True)
class MeshGeometry:
    """Tiles per chip and chips per system, from the profile's ``[mesh]`` table."""

    cores_per_tile: int
    tiles_x: int
    tiles_y: int
    chips_x: int
    chips_y: int


def synapse_count(proj: Connection) -> int:
    """Synapses of a projection that exist (padding excluded): the MACs of one ANN step through it."""
    return int(fan_out(proj).sum())


def fan_out(proj: Connection) -> np.ndarray:
    """Per source neuron (source shape, int64): the target neurons it has a synapse to (padding excluded).

    A spike of neuron n is fan_out[n] synaptic ops in the target layer (docs/design.md §7); "current"
    (identity input current) is one event per value and no multiply, so it counts 0 MACs here.
    """
    return synapses.fan_out(proj)


def _reach_matrix(proj: Connection, groups: int, target_core_of: np.ndarray, n_cores: int) -> np.ndarray:
    """reach[g, d]: a neuron at source position g connects to a neuron of core index d."""
    reach = np.zeros((groups, n_cores), dtype=bool)
    for position, targets in synapses.reach(proj):
        reach[position, np.unique(target_core_of[targets])] = True
    return reach


@dataclass(frozen=True)
class CoreRoute:
    """Where the spikes of one core go: expected messages and mesh hops per spike."""

    core_id: int
    messages_per_spike: float
    hops_ew_per_spike: float
    hops_ns_per_spike: float
    chips_crossed_per_spike: float
    destinations: tuple[int, ...] = ()  # core ids its spikes can reach (at least one neuron it connects to)


def global_tile(core: PlacedCore, mesh: MeshGeometry) -> tuple[int, int]:
    if not (0 <= core.x < mesh.tiles_x and 0 <= core.y < mesh.tiles_y):
        raise RunResultError(
            f"placement.json: core {core.core_id} at tile ({core.x}, {core.y}) is outside the "
            f"{mesh.tiles_x}x{mesh.tiles_y} mesh of the profile"
        )
    chip_x, chip_y = core.chip % mesh.chips_x, core.chip // mesh.chips_x
    return chip_x * mesh.tiles_x + core.x, chip_y * mesh.tiles_y + core.y


def route_cores(
    placement: list[PlacedCore],
    layer_neurons: dict[str, int],
    projections: list[Connection],
    mesh: MeshGeometry,
    routing: Routing = "geometric",
) -> dict[int, CoreRoute]:
    """Expected destination cores and hops per spike for every placed core (zero for layers feeding only the host)."""
    placement = list(placement)
    index = {c.core_id: i for i, c in enumerate(placement)}
    tiles = np.array([global_tile(c, mesh) for c in placement]).reshape(-1, 2)
    chips = np.array([c.chip for c in placement])
    shapes = _layer_shapes(layer_neurons, projections)
    core_of = {name: _core_of_neuron(name, shapes[name], placement, index) for name in layer_neurons}
    routes: dict[int, CoreRoute] = {}
    for name in layer_neurons:
        outgoing = [p for p in projections if p.source == name]
        sources = [c for c in placement if c.layer == name]
        # Only the cores of the layers this one feeds can receive its spikes: the reach table has a
        # column per such core, not per placed core (ResNet19 places ~45k cores).
        targets = {p.target for p in outgoing}
        cols = np.array([i for i, c in enumerate(placement) if c.layer in targets], dtype=np.int64)
        column_of = np.full(len(placement), -1, dtype=np.int64)
        column_of[cols] = np.arange(len(cols))
        if outgoing:
            groups = synapses.positions(outgoing[0].source_shape)
            reach = np.zeros((groups, len(cols)), dtype=bool)
            for proj in outgoing:
                reach |= _reach_matrix(proj, groups, column_of[core_of[proj.target]], len(cols))
            if routing == "all-cores":
                reach[:] = True
        for core in sources:
            here = index[core.core_id]
            if outgoing:
                members = np.bincount(core_neuron_indices(core, shapes[name]) % groups, minlength=groups)
                held = np.flatnonzero(members)  # the few source positions this core holds
                fraction = members[held] @ reach[held] / (core.neuron_stop - core.neuron_start)
            else:
                fraction = np.zeros(0)
            delta = np.abs(tiles[cols] - tiles[here])
            routes[core.core_id] = CoreRoute(
                core_id=core.core_id,
                messages_per_spike=float(fraction.sum()),
                hops_ew_per_spike=float(fraction @ delta[:, 0]),
                hops_ns_per_spike=float(fraction @ delta[:, 1]),
                chips_crossed_per_spike=float(fraction @ (chips[cols] != chips[here])),
                destinations=tuple(placement[int(cols[i])].core_id for i in np.flatnonzero(fraction > 0)),
            )
    return routes


def _layer_shapes(layer_neurons: dict[str, int], projections: list[Connection]) -> dict[str, tuple[int, ...]]:
    """Each layer's shape as its projections give it; (neurons,) for a layer no projection touches."""
    shapes = {name: (n,) for name, n in layer_neurons.items()}
    for proj in projections:
        for name, shape in ((proj.source, proj.source_shape), (proj.target, proj.target_shape)):
            if name in shapes and int(np.prod(shape)) == layer_neurons[name]:
                shapes[name] = tuple(shape)
    return shapes


def _core_of_neuron(
    name: str, shape: tuple[int, ...], placement: list[PlacedCore], index: dict[int, int]
) -> np.ndarray:
    """Index (into placement) of the core holding each neuron (flat torch index) of layer ``name``; all must be placed."""
    neurons = int(np.prod(shape))
    core_of = np.full(neurons, -1, dtype=np.int64)
    for core in placement:
        if core.layer == name:
            if core.neuron_stop > neurons:
                raise RunResultError(
                    f"placement.json: core {core.core_id} holds neurons up to {core.neuron_stop} "
                    f"of layer {name!r}, which has {neurons}"
                )
            core_of[core_neuron_indices(core, shape)] = index[core.core_id]
    if (core_of < 0).any():
        raise RunResultError(f"placement.json: neuron {int(np.argmax(core_of < 0))} of layer {name!r} is on no core")
    return core_of
