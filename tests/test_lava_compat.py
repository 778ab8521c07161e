"""lava-nc 0.10.0 imports on this Python through enof's finder and runs fixed_pt exactly as lava.md says."""

from __future__ import annotations

import sys

import numpy as np

import enof  # noqa: F401  (installs the finder before lava)
from enof import lava_compat


def test_finder_is_installed_and_ignores_other_modules():
    finders = [f for f in sys.meta_path if isinstance(f, lava_compat._VarModelFinder)]
    assert len(finders) == (1 if lava_compat.needed() else 0)
    if finders:
        assert finders[0].find_spec("json", None) is None
        assert finders[0].find_spec("lava.magma.compiler.compiler", None) is None
        lava_compat.install()  # idempotent
        assert sum(isinstance(f, lava_compat._VarModelFinder) for f in sys.meta_path) == 1


def test_var_model_loaded_through_the_finder_has_hashable_byte_encoder():
    from lava.magma.compiler import var_model

    if lava_compat.needed():
        assert isinstance(var_model.__spec__.loader, lava_compat._VarModelLoader)
    assert hash(var_model.ByteEncoder()) == hash(var_model.ByteEncoder())


def test_dense_to_lif_fixed_pt_spikes_match_hand_computation():
    """RingBuffer → Dense → LIF in Loihi2SimCfg(select_tag="fixed_pt"), checked against a hand trace.

    Input spikes (t = 1..6): n0 = 1 0 1 1 0 0, n1 = 0 1 1 0 0 0.
    W = [[3, 2], [-4, 5]] is MIXED: 8 weight bits truncate the lowest bit → [[2, 2], [-4, 4]].
    Dense delays by one step: a_in(t) = W s(t-1) → t2 [2, -4], t3 [2, 4], t4 [4, 0], t5 [2, -4], t6 [0, 0].
    LIF du = 4095 (u = a_in << 6), dv = 3072 (v keeps 1/4, truncated toward 0), vth = 2 → 128, strict >.
    n0: v = 0, 128, 32+128=160 S→0, 0+256=256 S→0, 128, 32         spikes at t3, t4
    n1: v = 0, -256, -64+256=192 S→0, 0, -256, -64                   spike at t3
    Exact integers: no tolerance.
    """
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    spikes_in = np.array([[1, 0, 1, 1, 0, 0], [0, 1, 1, 0, 0, 0]], dtype=np.int32)
    source = Source(data=spikes_in)
    dense = Dense(weights=np.array([[3, 2], [-4, 5]]))
    lif = LIF(shape=(2,), du=4095, dv=3072, vth=2, bias_mant=0, bias_exp=0)
    sink = Sink(shape=(2,), buffer=6)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=6), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        spikes = sink.data.get()
        v = lif.v.get()
    finally:
        lif.stop()
    np.testing.assert_array_equal(spikes, [[0, 0, 1, 1, 0, 0], [0, 0, 1, 0, 0, 0]])
    np.testing.assert_array_equal(v, [32, -64])
