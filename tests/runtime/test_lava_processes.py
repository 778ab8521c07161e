"""enof's Lava pieces in a real Lava run (in-process, ~1 s each): CountingLIF's counts and packed record
against a stock sink, and the relay neuron that aligns paths of different depth."""

from __future__ import annotations

import numpy as np
import pytest

import enof  # noqa: F401  (lava import fix)


def _run(procs_out, steps, tag):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    procs_out.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag=tag))


@pytest.mark.parametrize("tag", ["fixed_pt", "floating_pt"])
def test_counting_lif_counts_and_records_exactly_its_window(tag):
    """Exact: the count and the packed record equal a stock RingBuffer sink's raster restricted to the window."""
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from enof.runtime.lava.procs.processes import CountingLIF
    from enof.runtime.lava.builder import unpack_spikes

    neurons, steps, start, stop = 10, 12, 3, 10
    drive = np.random.default_rng(0).integers(0, 5, size=(neurons, steps))
    source = Source(data=drive.astype(np.int32 if tag == "fixed_pt" else np.float64))
    params = dict(du=4095, dv=3072, vth=2) if tag == "fixed_pt" else dict(du=1.0, dv=0.75, vth=2.0)
    lif = CountingLIF(shape=(neurons,), **params, bias_mant=0, bias_exp=0, reset_interval=4, reset_offset=1,
                      window_start=start, window_stop=stop, record=True)  # fmt: skip
    sink = Sink(shape=(neurons,), buffer=steps)
    source.s_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        _run(lif, steps, tag)
        raster = sink.data.get().astype(bool)  # (neurons, steps), column t-1 = step t
        counts = lif.spike_count.get()
        record = unpack_spikes(lif.spikes_packed.get(), stop - start + 1, neurons)
    finally:
        lif.stop()
    window = raster[:, start - 1 : stop]
    assert raster.sum() > window.sum() > 0  # spikes outside the window exist and are left out
    np.testing.assert_array_equal(counts, window.sum(1))
    np.testing.assert_array_equal(record, window.T)


@pytest.mark.parametrize("tag", ["fixed_pt", "floating_pt"])
def test_relay_lif_repeats_any_spike_train_one_step_later(tag):
    """Exact by construction, checked on a random train.

    fixed_pt (du = dv = 4095, vth = 0, bias 0): u = (u·0 >> 12) + (a << 6) = 64·a; v = (v·1 >> 12) + u.
    After every step v is 0 (reset after a spike, or 0 + 0 without input), so v = 64·a and the relay
    spikes iff a = 1 (64 > 0, 0 > 0 false). floating_pt (du = dv = 1, vth = 0.5): v = a, spikes iff a = 1.
    The identity synapse in front adds Lava's one-step synaptic delay.
    """
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import Sparse
    from scipy import sparse as sp

    from enof.runtime.lava.builder import RELAY_FIXED, RELAY_FLOAT

    neurons, steps = 16, 40
    train = (np.random.default_rng(1).random((neurons, steps)) < 0.4).astype(np.int32)
    fixed = tag == "fixed_pt"
    source = Source(data=train if fixed else train.astype(np.float64))
    synapse = Sparse(weights=sp.identity(neurons, dtype=np.int32 if fixed else np.float64, format="csr"))
    relay = LIF(shape=(neurons,), **(RELAY_FIXED if fixed else RELAY_FLOAT))
    sink = Sink(shape=(neurons,), buffer=steps)
    source.s_out.connect(synapse.s_in)
    synapse.a_out.connect(relay.a_in)
    relay.s_out.connect(sink.a_in)
    try:
        _run(relay, steps, tag)
        out = sink.data.get()
    finally:
        relay.stop()
    np.testing.assert_array_equal(out[:, 1:], train[:, :-1])
    np.testing.assert_array_equal(out[:, 0], 0)


def test_the_lava_backend_refuses_a_target_whose_state_is_not_lavas_24_bits_before_starting_lava(random_program):
    from dataclasses import replace

    from enof.errors import RunError
    from enof.runtime.lava.backend import run_lava

    program = replace(random_program("graded"), state_bits=20)  # a profile's [fixed_point] state_bits = 20
    with pytest.raises(RunError, match="u and v are 20-bit; Lava's bit-accurate LIF is 24-bit"):
        run_lava(program, np.zeros((1, *program.input_shape), np.float32), "fixed")
