"""Every stage that knows synapse kinds reaches them through enof.synapses.KINDS: a kind added to the table
alone (here a one-to-one kind: neuron n feeds neuron n, one synapse each) is counted, routed and placed
by the unchanged code, with the numbers its own table entry gives."""

import ast
import inspect
from collections.abc import Iterator

import numpy as np
import pytest

from enof import synapses
from enof.exporter import placement_cost, placement_cut
from enof.exporter.placement import LayerSpec, place
from enof.hardware_profiles import load_profile
from enof.runtime.energy import routing
from enof.runtime.energy.routing import MeshGeometry, route_cores, synapse_count
from enof.synapses import KINDS, Connection, SynapseKind

LOIHI = load_profile("loihi")
AXONS_PER_SOURCE = 3  # deliberately unlike dense (1 per source neuron) so the placer can only get it from the table
BITS_PER_NEURON = 40


class _OneToOneCost:
    row_axes = col_axes = ()

    def __init__(self, conn, weight_bits: int):
        self.n = int(np.prod(conn.source_shape))

    def input_axons(self, rows, cols, storage: str) -> int:
        return AXONS_PER_SOURCE * self.n

    def synapse_bits(self, rows, cols, channels: int, storage: str, enc, base_max: int) -> int:
        return BITS_PER_NEURON * (rows[1] - rows[0]) * (cols[1] - cols[0]) * channels

    def output_axons(self, block, cores, rows, cols, pixels, storage, slots):
        return np.zeros_like(pixels), pixels  # one axon per source neuron


def _one_to_one_reach(conn) -> Iterator[tuple[slice | int, np.ndarray]]:
    yield slice(None), np.arange(int(np.prod(conn.target_shape)))  # a 1-D layer is one spatial position


def _check(conn) -> None:
    if conn.source_shape != conn.target_shape:
        raise ValueError("one-to-one needs equal shapes")


ONE_TO_ONE = SynapseKind(
    "one-to-one", fan_in_events=lambda conn, events: events.reshape(conn.target_shape),
    fan_out=lambda conn: np.ones(conn.source_shape, np.int64), reach=_one_to_one_reach, check=_check,
    flattens=False, placement_cost=_OneToOneCost,
)


@pytest.fixture
def one_to_one(monkeypatch):
    monkeypatch.setitem(KINDS, "one-to-one", ONE_TO_ONE)
    return ONE_TO_ONE


def test_the_table_holds_one_kind_per_module():
    assert set(KINDS) == {"conv", "dense", "current"}
    for name, kind in KINDS.items():
        assert kind.name == name and kind.fan_out.__module__ == f"enof.synapses.{name}"
        assert kind.placement_cost.__module__ == f"enof.synapses.{name}"


def test_a_kind_unknown_to_the_table_is_refused_by_the_connection():
    with pytest.raises(ValueError, match=r"unknown synapse kind 'one-to-one' \(known: conv, dense, current\)"):
        Connection("one-to-one", (5,), (5,))


def test_geometry_and_routing_take_a_new_kind_from_the_table(one_to_one):
    conn = Connection("one-to-one", (5,), (5,), source="a", target="b")
    events = np.array([3, 0, 1, 4, 2])
    assert np.array_equal(synapses.fan_in_events(conn, events), events)
    assert synapse_count(conn) == 5
    with pytest.raises(ValueError, match="one-to-one needs equal shapes"):
        Connection("one-to-one", (5,), (4,))
    # two cores each; a flat layer is one spatial position, so every core of a reaches both cores of b
    from enof.formats.placement import PlacedCore

    def core(core_id, layer, start, stop, x):
        return PlacedCore(core_id, layer, 0, x, x, 0, start, stop, stop - start, 0, 0, 0, {})

    cores = [core(0, "a", 0, 3, 0), core(1, "a", 3, 5, 1), core(2, "b", 0, 3, 2), core(3, "b", 3, 5, 3)]
    mesh = MeshGeometry(cores_per_tile=1, tiles_x=4, tiles_y=1, chips_x=1, chips_y=1)
    routes = route_cores(cores, {"a": 5, "b": 5}, [conn], mesh)
    assert routes[0].destinations == (2, 3) and routes[1].destinations == (2, 3)
    assert routes[0].messages_per_spike == 2.0 and routes[0].hops_ew_per_spike == 2.0 + 3.0


def test_the_placer_prices_a_new_kind_with_its_own_cost(one_to_one):
    layers = [LayerSpec("a", (6,)), LayerSpec("b", (6,), (Connection("one-to-one", (6,), (6,), source="a"),),
                                              to_host=True)]  # fmt: skip
    placed = place(layers, LOIHI)
    (b,) = placed.cores_of("b")
    assert b.input_axons == AXONS_PER_SOURCE * 6 and b.synapse_bits == BITS_PER_NEURON * 6
    (a,) = placed.cores_of("a")
    assert a.output_axons == 6  # one per neuron, from the kind's output_axons


@pytest.mark.parametrize("module", [placement_cost, placement_cut, routing])
def test_the_placer_and_the_routing_name_no_kind(module):
    tree = ast.parse(inspect.getsource(module))
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not calls & {"hasattr", "isinstance"}
    compared = {c.value for node in ast.walk(tree) if isinstance(node, ast.Compare)
                for c in (node.left, *node.comparators) if isinstance(c, ast.Constant)}  # fmt: skip
    assert not compared & set(KINDS), f"{module.__name__} branches on a kind's name"
