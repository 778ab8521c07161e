"""The synapse kinds' geometry (enof.synapses) against hand-computed cases, torch's conv2d and brute-force walks over every synapse."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from enof.synapses import Connection, fan_in_events, fan_in_events_batch, fan_out, positions, reach
from enof.synapses.conv import conv_cover, conv_output_shape, conv_output_size, conv_reach

# (source (C, H, W), C_out, kernel, stride, padding): odd sizes, strides above the kernel, asymmetric pads
CONVS = [
    ((2, 7, 5), 3, (3, 3), (1, 1), (1, 1)),
    ((3, 8, 8), 2, (3, 3), (2, 2), (1, 1)),
    ((1, 9, 6), 2, (1, 1), (3, 2), (0, 0)),  # stride > kernel: some inputs reach nothing
    ((2, 6, 7), 4, (2, 3), (2, 1), (0, 2)),
    ((2, 5, 5), 1, (5, 5), (1, 1), (0, 0)),
]


def _conv(source, c_out, kernel, stride, padding) -> Connection:
    target = conv_output_shape((c_out, source[0], *kernel), source, stride, padding)
    return Connection("conv", source, target, kernel, stride, padding)


def _synapses(conn: Connection):
    """Every (source flat index, target flat index) pair a conv connects, by walking the kernel (torch order)."""
    (c_in, h_in, w_in), (c_out, h_out, w_out) = conn.source_shape, conn.target_shape
    for co, oy, ox, ci, ky, kx in itertools.product(range(c_out), range(h_out), range(w_out), range(c_in),
                                                   range(conn.kernel[0]), range(conn.kernel[1])):  # fmt: skip
        iy, ix = oy * conn.stride[0] - conn.padding[0] + ky, ox * conn.stride[1] - conn.padding[1] + kx
        if 0 <= iy < h_in and 0 <= ix < w_in:
            yield (ci * h_in + iy) * w_in + ix, (co * h_out + oy) * w_out + ox


def test_conv_output_size_by_hand():
    assert conv_output_size(32, 3, 1, 1) == 32  # "same" 3×3
    assert conv_output_size(32, 3, 2, 1) == 16
    assert conv_output_size(5, 3, 2, 0) == 2
    assert conv_output_size(7, 1, 3, 0) == 3  # positions 0, 3, 6
    assert conv_output_size(4, 5, 1, 0) == 0  # the kernel does not fit


@pytest.mark.parametrize("source, c_out, kernel, stride, padding", CONVS)
def test_conv_output_shape_is_torch_conv2d_output_shape(source, c_out, kernel, stride, padding):
    out = F.conv2d(torch.zeros(1, *source), torch.zeros(c_out, source[0], *kernel), stride=stride, padding=padding)
    assert conv_output_shape((c_out, source[0], *kernel), source, stride, padding) == tuple(out.shape[1:])


def test_conv_output_shape_is_none_when_the_shapes_do_not_fit():
    assert conv_output_shape((4, 3, 3, 3), (2, 8, 8), (1, 1), (0, 0)) is None  # C_in 3 against 2 channels
    assert conv_output_shape((4, 2, 5, 5), (2, 4, 4), (1, 1), (0, 0)) is None  # 5×5 kernel on 4×4
    assert conv_output_shape((4, 2), (2, 8, 8), (1, 1), (0, 0)) is None  # a dense weight
    assert conv_output_shape((4, 2, 3, 3), (128,), (1, 1), (0, 0)) is None  # a flat source


@pytest.mark.parametrize("size_in, kernel, stride, padding", [(7, 3, 1, 1), (8, 3, 2, 1), (9, 1, 3, 0), (6, 2, 2, 0),
                                                              (5, 5, 1, 2), (7, 3, 2, 2)])  # fmt: skip
def test_conv_reach_and_cover_equal_a_brute_force_over_receptive_fields(size_in, kernel, stride, padding):
    size_out = conv_output_size(size_in, kernel, stride, padding)
    lo, hi = conv_reach(size_in, size_out, kernel, stride, padding)
    cover = conv_cover(size_in, size_out, kernel, stride, padding)
    for i in range(size_in):
        covering = [o for o in range(size_out) if o * stride - padding <= i < o * stride - padding + kernel]
        assert list(range(lo[i], hi[i] + 1)) == covering, i
        assert list(np.flatnonzero(cover[:, i])) == covering, i


def test_conv_reach_by_hand_with_a_stride_larger_than_the_kernel():
    lo, hi = conv_reach(7, 3, 1, 3, 0)  # outputs read inputs 0, 3, 6
    assert list(lo) == [0, 1, 1, 1, 2, 2, 2] and list(hi) == [0, 0, 0, 1, 1, 1, 2]  # lo > hi: reached by none


@pytest.mark.parametrize("source, c_out, kernel, stride, padding", CONVS)
def test_conv_fan_in_events_equal_torch_conv2d_with_a_ones_kernel(source, c_out, kernel, stride, padding):
    conn = _conv(source, c_out, kernel, stride, padding)
    events = np.random.default_rng(1).integers(0, 50, size=source)
    ones = torch.ones(c_out, source[0], *kernel, dtype=torch.float64)
    want = F.conv2d(torch.from_numpy(events.astype(np.float64))[None], ones, stride=stride, padding=padding)[0]
    got = fan_in_events(conn, events)
    assert got.dtype == np.int64 and np.array_equal(got, want.numpy().astype(np.int64))


@pytest.mark.parametrize("source, c_out, kernel, stride, padding", CONVS)
def test_conv_fan_out_and_reach_equal_a_brute_force_walk_over_synapses(source, c_out, kernel, stride, padding):
    conn = _conv(source, c_out, kernel, stride, padding)
    pairs = list(_synapses(conn))
    counted = np.bincount([s for s, _ in pairs], minlength=int(np.prod(source)))
    assert np.array_equal(fan_out(conn).ravel(), counted)
    per_position = positions(source)
    walked = {p: set() for p in range(per_position)}
    for s, t in pairs:
        walked[s % per_position].add(t)
    reached = {p: set(targets.tolist()) for p, targets in reach(conn)}
    assert reached == {p: targets for p, targets in walked.items() if targets}


@pytest.mark.parametrize("source, c_out, kernel, stride, padding", CONVS)
def test_fan_in_events_and_fan_out_count_the_same_synaptic_events(source, c_out, kernel, stride, padding):
    # Σ over targets of the events arriving = Σ over sources of events × synapses: one event per synapse.
    conn = _conv(source, c_out, kernel, stride, padding)
    events = np.random.default_rng(2).integers(0, 9, size=source)
    assert int(fan_in_events(conn, events).sum()) == int((events * fan_out(conn)).sum())


@pytest.mark.parametrize("source, c_out, kernel, stride, padding", CONVS)
def test_batched_conv_fan_in_equals_torch_conv2d_of_the_batch_with_a_ones_kernel(source, c_out, kernel, stride, padding):
    conn = _conv(source, c_out, kernel, stride, padding)
    events = np.random.default_rng(4).integers(0, 50, size=(5, *source))
    ones = torch.ones(c_out, source[0], *kernel, dtype=torch.float64)
    want = F.conv2d(torch.from_numpy(events.astype(np.float64)), ones, stride=stride, padding=padding)
    got = fan_in_events_batch(conn, events)
    assert got.dtype == np.int64 and got.shape == (5, *conn.target_shape)
    assert np.array_equal(got, want.numpy().astype(np.int64))


@pytest.mark.parametrize("conn", [
    Connection("conv", (4, 7, 5), (8, 4, 3), (3, 3), (2, 2), (1, 1), 2),  # grouped
    Connection("dense", (2, 3, 1), (4,)),  # flattens: fed the (C, H, W) spikes of its source
    Connection("current", (2, 2, 3), (2, 2, 3)),
], ids=["grouped conv", "dense", "current"])  # fmt: skip
def test_each_row_of_the_batched_fan_in_is_the_fan_in_of_that_sample(conn):
    # 0/1 float32 spikes (the simulator's), bool input flags, and event counts: each sample's row is its own
    rng = np.random.default_rng(5)
    for events in ((rng.random((6, *conn.source_shape)) < 0.4).astype(np.float32), rng.random((6, *conn.source_shape)) < 0.6,
                   rng.integers(0, 7, size=(6, int(np.prod(conn.source_shape))))):
        got = fan_in_events_batch(conn, events)
        assert got.dtype == np.int64 and got.shape == (6, *conn.target_shape)
        assert all(np.array_equal(got[b], fan_in_events(conn, events[b])) for b in range(6))
        assert len({got[b].tobytes() for b in range(6)}) > 1  # the samples differ, so a mixed-up row would show


def test_dense_connects_every_source_neuron_to_every_target():
    conn = Connection("dense", (2, 3, 1), (4,))
    events = np.arange(6).reshape(2, 3, 1)
    assert np.array_equal(fan_in_events(conn, events), np.full((4,), 15))
    assert np.array_equal(fan_out(conn), np.full((2, 3, 1), 4))
    assert [(p, list(t)) for p, t in reach(conn)] == [(slice(None), [0, 1, 2, 3])]


def test_current_adds_each_value_to_its_own_neuron_through_no_synapse():
    conn = Connection("current", (2, 2, 3), (2, 2, 3))
    events = np.arange(12).reshape(2, 2, 3)
    assert np.array_equal(fan_in_events(conn, events), events)
    assert not fan_out(conn).any()
    assert {p: sorted(t.tolist()) for p, t in reach(conn)} == {p: [p, p + 6] for p in range(6)}


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown synapse kind 'sparse'"):
        Connection("sparse", (4,), (4,))


@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_conv_fan_in_and_fan_out_equal_torch_conv2d_with_groups(groups):
    # (4, 7, 5) → 8 channels: output channel c reads the 4/groups input channels of its group only.
    conn = Connection("conv", (4, 7, 5), (8, 4, 3), (3, 3), (2, 2), (1, 1), groups)
    events = np.random.default_rng(3).integers(0, 50, size=(4, 7, 5))
    ones = torch.ones(8, 4 // groups, 3, 3, dtype=torch.float64)
    want = F.conv2d(torch.from_numpy(events.astype(np.float64))[None], ones, stride=2, padding=1, groups=groups)[0]
    assert np.array_equal(fan_in_events(conn, events), want.numpy().astype(np.int64))
    # each source neuron feeds the 8/groups output channels of its group at every covering position
    per_source = F.conv_transpose2d(torch.ones(1, 8, 4, 3, dtype=torch.float64), ones, stride=2, padding=1,
                                    groups=groups, output_padding=(0, 0))[0, :, :7, :5]  # fmt: skip
    assert np.array_equal(fan_out(conn), per_source.numpy().astype(np.int64))
    assert int(fan_in_events(conn, events).sum()) == int((events * fan_out(conn)).sum())


def test_groups_that_do_not_divide_the_channels_are_refused():
    with pytest.raises(ValueError, match="3 groups do not divide the channels"):
        Connection("conv", (4, 7, 5), (6, 4, 3), (3, 3), groups=3)
