"""Every stage that knows synapse kinds reaches them through enof.synapses.KINDS: a kind added to the table
alone (here a one-to-one kind: neuron n feeds neuron n, one synapse each) is counted, routed and placed
by the unchanged code, with the numbers its own table entry gives; the whole chain, run with every kind's
functions wrapped in the table, calls each kind's own entry at every stage; and no stage compares a kind's
name (docs/design.md §8: a new kind is its module, its table entry, its torch capture handler and its Lava
entry)."""

import ast
import dataclasses
import inspect
from collections.abc import Iterator

import numpy as np
import pytest

from enof import synapses
from enof.exporter import partition, placement_cost, placement_cut, replay, to_nir
from enof.exporter.placement import LayerSpec, place
from enof.hardware_profiles import load_profile
from enof.runtime import chip_nir, counts, step_activity
from enof.runtime.energy import routing
from enof.runtime.energy.routing import MeshGeometry, route_cores, synapse_count
from enof.runtime.fast import synapses as fast_synapses
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


def _not_in_this_test(*args, **kwargs):
    raise AssertionError("this test places, counts and routes the kind only")


ONE_TO_ONE = SynapseKind(
    "one-to-one", fan_in_events=lambda conn, events: events.reshape(*events.shape[:-1], *conn.target_shape).astype(np.int64),
    fan_out=lambda conn: np.ones(conn.source_shape, np.int64), reach=_one_to_one_reach, check=_check,
    flattens=False, placement_cost=_OneToOneCost, nir_types=lambda: (), read_nir=_not_in_this_test,
    float_op=_not_in_this_test, fixed_op=_not_in_this_test,
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
    batch = np.stack([events, 2 * events, events[::-1]])  # the batched form (the step recorder's) is the same function
    assert np.array_equal(synapses.fan_in_events_batch(conn, batch), batch)
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


STAGES = ("fan_in_events", "placement_cost", "replay", "write_nir", "nir_types", "read_nir", "float_op", "fixed_op")


def test_every_stage_of_the_chain_reaches_the_kinds_through_the_table(monkeypatch, tmp_path, random_inputs):
    """The real chain (export of a NIR conv → LIF → Flatten → Affine → LIF network: from_nir's builder,
    partition, replay, chip.nir, placement; then open_bundle, both precisions of the built-in simulator and
    the counts) with every kind's functions wrapped in KINDS by counters: each stage called each kind's own
    entry."""
    import nir
    import torch

    from enof.exporter.export import NirSource, export_bundle
    from enof.exporter.from_nir import graph_from_nir
    from enof.exporter.replay import Replay
    from enof.runtime.bundle import open_bundle
    from enof.runtime.counts import count_activity
    from enof.runtime.fast import simulate

    rng = np.random.default_rng(0)

    def lif(shape):  # snnTorch's convention for beta 0.5: decay 0.5, unit gain
        full = lambda v: np.full(shape, v, np.float32)  # noqa: E731
        return nir.LIF(tau=full(2e-4), r=full(2.0), v_leak=full(0.0), v_threshold=full(0.5), v_reset=full(0.0))

    nodes = {
        "input": nir.Input({"input": np.array([1, 8, 8])}),
        "conv": nir.Conv2d((8, 8), rng.normal(0, 1, (4, 1, 3, 3)).astype(np.float32), 1, 1, 1, 1, np.zeros(4, np.float32)),
        "lif1": lif((4, 8, 8)), "flat": nir.Flatten({"input": np.array([4, 8, 8])}, 0, -1),
        "fc": nir.Affine(rng.normal(0, 0.2, (10, 256)).astype(np.float32), np.zeros(10, np.float32)), "lif2": lif((10,)),
        "output": nir.Output({"output": np.array([10])}),
    }  # fmt: skip
    edges = [("input", "conv"), ("conv", "lif1"), ("lif1", "flat"), ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")]
    nir.write(str(tmp_path / "net.nir"), nir.NIRGraph(nodes, edges, metadata={"dt_s": 1e-4}))
    calls: dict[tuple[str, str], int] = {}

    def counting(kind: str, stage: str, real):
        def wrapper(*args, **kwargs):
            calls[kind, stage] = calls.get((kind, stage), 0) + 1
            return real(*args, **kwargs)

        return wrapper

    for name, kind in list(KINDS.items()):
        monkeypatch.setitem(KINDS, name, dataclasses.replace(
            kind, **{stage: counting(name, stage, getattr(kind, stage)) for stage in STAGES
                     if getattr(kind, stage) is not None}))  # fmt: skip
    out = export_bundle(tmp_path / "net.nir", "loihi2", tmp_path / "bundle", calibrate=0, nir_source=NirSource(3)).out_dir
    bundle = open_bundle(out)
    graph = graph_from_nir(nir.read(str(tmp_path / "net.nir")), 3, 1e-4)  # the float reference, as calibration runs it
    torch_input = torch.from_numpy(rng.random((3, 2, 1, 8, 8)).astype(np.float32))
    Replay(graph, list(graph.nodes), ["input"], [graph.output])(torch_input)
    x = random_inputs(bundle.program, 2)
    runs = {precision: simulate(bundle.program, x, precision) for precision in ("fixed", "float")}
    count_activity(bundle.program, runs["fixed"].spike_counts, runs["fixed"].input_nonzero, 2)
    # graded input on Loihi 2: no current synapse; the reader still asks that kind which NIR types it reads
    assert {stage for kind, stage in calls if kind == "current"} == {"nir_types"}
    for name in ("conv", "dense"):
        assert {stage for kind, stage in calls if kind == name} == set(STAGES), name


@pytest.mark.parametrize("module", [placement_cost, placement_cut, routing, partition, replay, to_nir, chip_nir,
                                    fast_synapses, counts, step_activity])  # fmt: skip
def test_the_stages_name_no_kind(module):
    """No ``x.kind == "conv"``-like branch (an input mode of the same name is not a kind), no hasattr. The one
    exception: chip_nir reads the program's input mode "current" off its current synapse, which is what that
    input mode is."""
    tree = ast.parse(inspect.getsource(module))
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "hasattr" not in calls
    allowed = {"current"} if module is chip_nir else set()
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.Compare)):
        operands = (node.left, *node.comparators)
        on_kind = any(isinstance(o, ast.Attribute) and o.attr == "kind" or isinstance(o, ast.Name) and o.id == "kind"
                      for o in operands)  # fmt: skip
        named = {o.value for o in operands if isinstance(o, ast.Constant)} & set(KINDS)
        assert not (on_kind and named - allowed), f"{module.__name__}:{node.lineno} branches on the kind {named}"
