"""chip.net.h5's contract (enof.formats.netx): the weight ranges netx reads exactly, held against lava-dl's own
optimize_weight_bits and Lava's Dense weight handling; biases at netx's exponent 6 on both sides of each bound;
the reader's refusals of what netx would skip, hang on or raise on."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest
# At collection, as the other Lava tests do: importing Lava sets multiprocessing's start method, which fails
# once a test before this one has fixed it ("context has already been set").
from lava.lib.dl.netx.utils import optimize_weight_bits
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

from enof.errors import BundleError
from enof.formats.netx import (
    NetxLayer, bias_at_netx_exp, dense_read_problem, lava_dense_weights, netx_bytes, netx_dense_weights, read_netx,
)  # fmt: skip

# Weight sets at the edges the reference probed (shared/reference/netx.md): exact, then read wrongly.
READ_EXACTLY = {
    "mixed even [-254, 254]": np.array([[-254, 254, 0, 2], [10, -8, 6, 0]]),
    "mixed down to -256": np.array([[-256, 254, 0, 2], [10, -8, 6, 4]]),
    "excitatory up to 255": np.array([[0, 255, 3, 1], [17, 0, 0, 9]]),
    "excitatory small [0, 3]": np.array([[0, 3, 1, 2], [3, 0, 0, 1]]),
    "inhibitory [-255, -1]": np.array([[-1, -255, -7, -3], [-9, -2, -1, -128]]),
    "small mixed [-2, 2]": np.array([[-2, 2, 0, 2], [-2, 0, 2, 2]]),
}
READ_WRONGLY = {
    "mixed above 254": (np.array([[-2, 256, 0, 2], [10, -8, 6, 0]]), "netx clips"),
    "mixed below -256": (np.array([[-258, 4, 0, 2], [10, -8, 6, 0]]), "netx clips"),
    "excitatory above 255": (np.array([[0, 300, 3, 1], [17, 0, 0, 9]]), "excitatory weights above 255"),
    "non-positive with 0": (np.array([[0, -4, -2, -6], [-8, 0, -2, -4]]), "sign mode"),
    "mixed odd (enof's Lava truncates the lowest bit, netx keeps it)": (np.array([[-3, 5, 0, 1], [7, -9, 2, 0]]), "differently"),
    "all zero": (np.zeros((2, 4), np.int64), "all-zero"),
}


@pytest.mark.parametrize("name", list(READ_EXACTLY))
def test_weight_ranges_netx_reads_exactly_pass(name):
    assert dense_read_problem(READ_EXACTLY[name], 0, 8) == ""


@pytest.mark.parametrize("name", list(READ_WRONGLY))
def test_weight_ranges_netx_reads_wrongly_are_named(name):
    weights, words = READ_WRONGLY[name]
    problem = dense_read_problem(weights, 0, 8)
    assert words in problem and f"[{weights.min()}, {weights.max()}]" in problem


@pytest.mark.parametrize("name", [n for n in READ_EXACTLY] + [n for n in READ_WRONGLY if n != "all zero"])
def test_the_replayed_netx_and_lava_weight_handling_is_lava_dls_own(name, capsys):
    """Our numpy replay of netx/utils.py optimize_weight_bits and of Lava's Dense clip + truncation gives the
    integers lava-dl 0.6.0 and lava-nc 0.10.0 themselves give (where netx clips, after its clip)."""
    weights = READ_EXACTLY.get(name, READ_WRONGLY.get(name, (None,))[0])
    shifted, bits, exp, _ = optimize_weight_bits(weights.copy())
    capsys.readouterr()  # netx prints its clip warnings
    mode = determine_sign_mode(shifted)
    lava = truncate_weights(clip_weights(shifted, mode, num_bits=8), mode, bits)
    ours = netx_dense_weights(weights)
    if ours is None:  # we refuse: netx clipped or shifted by a negative count, so it runs other integers than the file's
        assert not np.array_equal(np.asarray(lava) * 2.0**exp, weights)
        return
    assert (ours[1], ours[2]) == (bits, exp)
    np.testing.assert_array_equal(lava_dense_weights(ours[0], ours[1]), lava)


def test_a_weight_exponent_netx_has_no_field_for_is_refused_unless_it_changes_nothing():
    w = np.array([[4, -8, 2, 0], [6, 2, -4, 8]])
    assert dense_read_problem(w, 0, 8) == ""
    assert "weight exponent" in dense_read_problem(w, 1, 8)  # doubled weights: netx would read them halved
    assert dense_read_problem(w, -1, 8) != ""  # a right shift of the sum rounds; netx's integers would not


@pytest.mark.parametrize("mant, exp, expected", [
    (np.array([64, -128, 0]), 0, [1, -2, 0]),  # multiples of 64 at exponent 0
    (np.array([4095, -4095]), 6, [4095, -4095]),  # the 13-bit edge
    (np.array([2047, -3]), 7, [4094, -6]),  # exponent 7 doubles, inside 13 bits
])  # fmt: skip
def test_biases_netx_holds_at_exponent_6(mant, exp, expected):
    value, problem = bias_at_netx_exp(mant, exp, 13)
    assert problem == "" and value.tolist() == expected


@pytest.mark.parametrize("mant, exp, words", [
    (np.array([64, 65]), 0, "not a multiple of 2^6"),
    (np.array([4, 6]), 4, "not a multiple of 2^6"),
    (np.array([2048, 0]), 7, "mantissa of 4096"),
    (np.array([4096]), 6, "beyond 13 bits"),
])  # fmt: skip
def test_biases_netx_cannot_hold_say_why(mant, exp, words):
    value, problem = bias_at_netx_exp(mant, exp, 13)
    assert value is None and words in problem


def _layers():
    rng = np.random.default_rng(0)
    conv_bias = np.broadcast_to(np.array([3, -2])[:, None, None], (2, 4, 4)).copy()
    dense_bias = rng.integers(-9, 9, 5)
    return [
        NetxLayer("act1", "conv", (2, 4, 4), rng.integers(-20, 20, (2, 1, 3, 3)), 90, 4095, 3072, conv_bias,
                  stride=(2, 1), padding=(1, 0)),
        NetxLayer("act2", "conv", (3, 4, 4), rng.integers(-20, 20, (3, 2, 3, 3)), 70, 4095, 3072,
                  rng.integers(-5, 5, (3, 4, 4)), padding=(1, 1)),  # per neuron: netx's W, H, C order in the file
        NetxLayer("act3", "dense", (5,), rng.integers(-20, 20, (5, 48)) * 2, 50, 4095, 0, dense_bias, flatten_before=True),
    ]  # fmt: skip


def test_written_file_reads_back_layer_for_layer():
    layers = _layers()
    data = netx_bytes((1, 8, 4), layers)
    with h5py.File(io.BytesIO(data), "r") as f:  # netx's own layout: an input layer, flatten before dense
        types = [f[f"layer/{i}/type"][()].decode() for i in range(len(f["layer"]))]
        assert types == ["input", "conv", "conv", "flatten", "dense"]
        assert f["layer/1/bias"].shape == (2,) and f["layer/2/bias"].shape == (4, 4, 3)  # per channel, per neuron WHC
        assert f["layer/1/neuron/iDecay"][()] == 4096  # netx: du = iDecay − 1
    input_shape, back = read_netx(data, "x")
    assert input_shape == (1, 8, 4)
    for mine, theirs in zip(layers, back):
        for field in ("name", "kind", "shape", "vth", "du", "dv", "stride", "padding", "flatten_before"):
            assert getattr(mine, field) == getattr(theirs, field), field
        np.testing.assert_array_equal(mine.weight, theirs.weight)
        np.testing.assert_array_equal(mine.bias, theirs.bias)


def _edited(data: bytes, edit) -> bytes:
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        edit(f)
    return buffer.getvalue()


def _set_type(path, kind):
    def edit(f):
        del f[path]
        f.create_dataset(path, data=np.bytes_(kind))
    return edit


@pytest.mark.parametrize("edit, words", [
    (_set_type("layer/2/type", "pool"), "type 'pool' is not one netx runs"),
    (_set_type("layer/2/type", "convolution"), "netx skips unknown types silently"),
    (lambda f: f["layer/0"].create_group("neuron"), "lava-dl #298"),
    (lambda f: f["layer/1"].__delitem__("stride"), "missing field 'stride'"),
    (lambda f: f["layer/1/neuron"].__delitem__("type"), "missing field 'type'"),
    (lambda f: f["layer"].move("4", "7"), "'0' … 'n-1'"),
    (lambda f: f["layer/4"].__delitem__("neuron"), "no neuron group"),
])  # fmt: skip
def test_a_file_netx_would_misread_is_refused_in_one_line(edit, words):
    data = _edited(netx_bytes((1, 8, 4), _layers()), edit)
    with pytest.raises(BundleError) as info:
        read_netx(data, "chip.net.h5")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_damaged_file_is_refused_in_one_line():
    data = netx_bytes((1, 8, 4), _layers())
    with pytest.raises(BundleError, match=r"chip.net.h5: cannot read as netx HDF5"):
        read_netx(data[: len(data) // 2], "chip.net.h5")
