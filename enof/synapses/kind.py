"""What every synapse kind provides (``SynapseKind``), and the shape helpers the kinds share.

A kind module (conv, dense, current) fills one ``SynapseKind``; ``enof.synapses.KINDS`` is the table of
them, keyed by the kind's name, through which every stage of the chain reaches a kind's code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np


def positions(shape: tuple[int, ...]) -> int:
    """Spatial positions of a layer: H·W of (C, H, W), 1 of (N,). Flat index n is at position n % positions."""
    return shape[1] * shape[2] if len(shape) == 3 else 1


@dataclass(frozen=True)
class SynapseKind:
    """One synapse kind: each function takes the ``Connection`` (enof.synapses) first.

    Geometry (pure numpy, exact int64): ``fan_in_events(conn, events)`` per target neuron, the events reaching
    it given events per source neuron; ``fan_out(conn)`` per source neuron, its synapses (padding taps
    excluded); ``reach(conn)`` (position, flat target indices) pairs, the targets of the source neurons at a
    spatial position united over their channels. ``check(conn)`` raises ValueError where the shapes do not
    hold together; ``flattens``: the kind reads its source and feeds its target as flat vectors (any shapes
    of the same sizes will do). Placement: ``placement_cost(conn, weight_bits)``, what the kind's synapses
    cost a core (input axons, synapse bits, the output axons of their source).

    Weights (None for the current kind, which is an edge from the input, not a weight node): ``word`` names
    its layers (enof.exporter.names), ``weight_shape(conn)`` is the shape of its weight; ``replay(conn, x,
    weight, bias)`` its float op in torch (x time-major, (T, B, *source) or (B, *source)); ``write_nir(conn,
    weight, bias)`` its chip.nir node. Runtime: ``nir_types()`` the NIR node types read as this kind,
    ``read_nir(src, lif, g)`` → ``SynapseRead`` (enof.runtime.chip_nir), ``float_op(syn, device)`` and
    ``fixed_op(syn, input_bound, graded, device)`` its built-in simulator operators (enof.synapses.ops).
    """

    name: str
    fan_in_events: Callable[[Any, np.ndarray], np.ndarray]
    fan_out: Callable[[Any], np.ndarray]
    reach: Callable[[Any], Iterator[tuple[int | slice, np.ndarray]]]
    check: Callable[[Any], None]
    flattens: bool
    placement_cost: Callable[[Any, int], Any]
    nir_types: Callable[[], tuple[type, ...]]
    read_nir: Callable[[str, str, Any], Any]
    float_op: Callable[..., Any]
    fixed_op: Callable[..., Any]
    word: str | None = None
    weight_shape: Callable[[Any], tuple[int, ...]] | None = None
    replay: Callable[..., Any] | None = None
    write_nir: Callable[..., Any] | None = None
