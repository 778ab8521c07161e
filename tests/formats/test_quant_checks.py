"""quant.npz of a real exported bundle, edited (and re-hashed): every integer against the bundle's profile
(the exporter's limits), every float finite, every shape against chip.nir, a damaged archive in one line.
The checks run in open_bundle, so the built-in simulator and Lava refuse alike; the valid edges still run."""

import io
import zipfile

import numpy as np
import pytest

from enof.errors import BundleError
from enof.formats.quant import FixedPointRanges
from enof.hardware_profiles import available_profiles, load_profile
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle

CONV, LIF = "conv2", "act1"  # loihi2 digits: conv conv1 (input → act1), conv conv2 → act2


def _with(array: np.ndarray, index, value) -> np.ndarray:
    out = array.copy()
    out[index] = value
    return out


@pytest.fixture
def bundle(edited_bundle):
    return edited_bundle("loihi2")


@pytest.mark.parametrize(
    "key, value, tail",
    [
        (f"{CONV}.weight_int", 10000, f"{CONV}.weight_int holds 10000, outside the loihi2 profile's 8-bit weight range [-254, 254]"),
        (f"{CONV}.weight_int", -255, f"{CONV}.weight_int holds -255, outside the loihi2 profile's 8-bit weight range [-254, 254]"),
        (f"{CONV}.weight_int", 2**31 - 1, f"{CONV}.weight_int holds 2147483647, outside the loihi2 profile's 8-bit weight range [-254, 254]"),
        (f"{LIF}.vth", 0, f"{LIF}.vth holds 0, outside the loihi2 profile's 17-bit threshold mantissa range [1, 131071]"),
        (f"{LIF}.vth", -5, f"{LIF}.vth holds -5, outside the loihi2 profile's 17-bit threshold mantissa range [1, 131071]"),
        (f"{LIF}.vth", 2**17, f"{LIF}.vth holds 131072, outside the loihi2 profile's 17-bit threshold mantissa range [1, 131071]"),
        (f"{LIF}.dv", 4096, f"{LIF}.dv holds 4096, outside the loihi2 profile's 12-bit decay range [0, 4095]"),
        (f"{LIF}.du", -1, f"{LIF}.du holds -1, outside the loihi2 profile's 12-bit decay range [0, 4095]"),
        (f"{LIF}.bias_mant", 10**6, f"{LIF}.bias_mant holds 1000000, outside the loihi2 profile's 13-bit signed bias mantissa range [-4095, 4095]"),
        (f"{LIF}.bias_exp", 40, f"{LIF}.bias_exp holds 40, outside the loihi2 profile's bias exponent range [0, 7]"),
        (f"{LIF}.bias_exp", -40, f"{LIF}.bias_exp holds -40, outside the loihi2 profile's bias exponent range [0, 7]"),
        (f"{CONV}.weight_exp", 9, f"{CONV}.weight_exp holds 9, outside the loihi2 profile's weight exponent range [-7, 7]"),
        (f"{CONV}.weight_exp", 3, f"{CONV}.weight_exp holds 3, but only an identity shortcut conv may carry one (Lava's Conv ignores weight_exp): it must be 0"),
    ],
)  # fmt: skip
def test_an_integer_outside_the_profiles_range_is_one_line_naming_entry_value_and_range(bundle, refused, key, value, tail):
    original = bundle.quant()[key]
    bundle.edit_quant(**{key.replace(".", "__"): _with(original, (0,) * original.ndim, value).astype(np.int32)
                         if original.ndim else np.int32(value)})  # fmt: skip
    refused(lambda: open_bundle(bundle.root), BundleError, f"quant.npz: {tail}")


@pytest.mark.parametrize("backend", ["fast", "lava"])
def test_both_backends_refuse_a_weight_of_2_31_minus_1_before_running(bundle, refused, digits_test_set, backend):
    # Before: the built-in simulator refused it (accumulation bound), Lava ran it.
    bundle.edit_quant(**{f"{CONV}__weight_int": _with(bundle.quant()[f"{CONV}.weight_int"], (0, 0, 0, 0), 2**31 - 1)})
    images, labels = digits_test_set
    refused(lambda: run_bundle(open_bundle(bundle.root), images[:2], labels[:2], backend=backend, progress=False), BundleError,
            f"quant.npz: {CONV}.weight_int holds 2147483647, outside the loihi2 profile's 8-bit weight range [-254, 254]")


@pytest.mark.parametrize(
    "key, value, tail",
    [
        ("input.scale", np.float64(-1.0), "input.scale holds -1.0, expected a finite number > 0"),
        ("input.scale", np.float64(np.nan), "input.scale holds nan, expected a finite number > 0"),
        ("input.scale", np.float64(0.0), "input.scale holds 0.0, expected a finite number > 0"),
        (f"{LIF}.scale", np.float64(np.inf), f"{LIF}.scale holds inf, expected a finite number > 0"),
        (f"{LIF}.scale", np.float64(np.nan), f"{LIF}.scale holds nan, expected a finite number > 0"),
        (f"{LIF}.scale", np.float64(-2.0), f"{LIF}.scale holds -2.0, expected a finite number > 0"),
    ],
)  # fmt: skip
def test_a_float_that_is_not_finite_or_a_scale_that_is_not_positive_is_refused(bundle, refused, key, value, tail):
    bundle.edit_quant(**{key.replace(".", "__"): value})
    refused(lambda: open_bundle(bundle.root), BundleError, f"quant.npz: {tail}")


@pytest.mark.parametrize(
    "change, tail",
    [
        ({f"{CONV}__weight_int": np.zeros((16, 8, 3, 2), np.int32)},
         f"{CONV}.weight_int has shape (16, 8, 3, 2), but chip.nir's weight node '{CONV}' needs (16, 8, 3, 3)"),
        ({f"{LIF}__bias_mant": np.zeros((8, 64), np.int32)},
         f"{LIF}.bias_mant has shape (8, 64), but chip.nir's LIF '{LIF}' needs (8, 8, 8)"),
        ({f"{LIF}__vth": np.array([5, 5], np.int32)}, f"{LIF}.vth has shape (2,), but chip.nir's LIF '{LIF}' needs ()"),
        ({f"{CONV}__weight_int": np.zeros((16, 8, 3, 3), np.float32)}, f"{CONV}.weight_int has dtype float32, expected integers"),
        ({f"{LIF}__scale": np.int32(3)}, f"{LIF}.scale has dtype int32, expected floats"),
        ({f"{LIF}__bias_float": np.zeros((8, 8, 8), np.float32)},  # the float bias lives in chip.nir now
         f"entry '{LIF}.bias_float' matches no node of chip.nir; the bundle predates chip.nir's biases: re-export it"),
        ({f"{LIF}__vth": None}, f"missing '{LIF}.vth' for LIF '{LIF}'"),
        ({"stray.weight_int": np.zeros(3, np.int32)}, "entry 'stray.weight_int' matches no node of chip.nir"),
    ],
)  # fmt: skip
def test_shapes_dtypes_and_entries_must_match_chip_nir(bundle, refused, change, tail):
    bundle.edit_quant(**change)
    refused(lambda: open_bundle(bundle.root), BundleError, f"quant.npz: {tail}")


def test_truncated_archive_with_its_hash_edited_in_is_one_line(bundle, refused):
    raw = (bundle.root / "quant.npz").read_bytes()
    bundle.write_file("quant.npz", raw[: len(raw) // 2])
    message = refused(lambda: open_bundle(bundle.root), BundleError, "; the file is truncated or damaged")
    assert "quant.npz: cannot read quant.npz (" in message


def test_an_entry_whose_header_promises_more_data_than_it_holds_is_refused_before_allocating(bundle, refused):
    # A header claiming 10^12 elements: refused from the header and the entry's size, nothing allocated.
    arrays = bundle.quant()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w") as entry:
                if key == f"{LIF}.bias_mant":
                    np.lib.format.write_array_header_1_0(entry, {"descr": "<i4", "fortran_order": False, "shape": (10**12,)})
                    entry.write(value.tobytes())
                else:
                    np.lib.format.write_array(entry, value)
    bundle.write_file("quant.npz", buffer.getvalue())
    refused(lambda: open_bundle(bundle.root), BundleError,
            f"quant.npz: {LIF}.bias_mant declares shape (1000000000000,) (4000000000000 bytes) but the entry holds "
            "2048 bytes of data; the file is truncated or damaged")  # fmt: skip


def test_an_object_array_is_refused_without_unpickling_it(bundle, refused):
    arrays = bundle.quant()
    arrays[f"{LIF}.vth"] = np.array([{"evil": 1}], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # savez pickles object arrays
    bundle.write_file("quant.npz", buffer.getvalue())
    refused(lambda: open_bundle(bundle.root), BundleError, f"quant.npz: {LIF}.vth has dtype object, expected integers or floats")


def test_ranges_come_from_the_bundles_own_profile(bundle, refused):
    # The same integers against an edited profile (its sha256 re-recorded): a 4-bit weight range refuses them.
    import hashlib

    data = bundle.manifest()
    text = data["target"]["profile"].replace("weight_bits = { value = 8,", "weight_bits = { value = 4,")
    data["target"].update(profile=text, profile_sha256=hashlib.sha256(text.encode()).hexdigest())
    bundle.write_manifest(data)  # the manifest's weight_bits (8) already exceeds the 4-bit register:
    refused(lambda: open_bundle(bundle.root), BundleError, "field 'weight_bits' is 8, but the loihi2 profile's "
            "synapses take at most 4 weight bits")  # fmt: skip
    del data["weight_bits"]  # as in a bundle from before weight_bits: quant.npz's own check then holds the range
    bundle.write_manifest(data)
    message = refused(lambda: open_bundle(bundle.root), BundleError, "outside the loihi2 profile's 4-bit weight range [-14, 14]")
    assert "quant.npz: conv1.weight_int holds" in message


def test_the_valid_edges_load_and_run(bundle, digits_test_set):
    """The largest weights of either sign, the smallest and largest threshold, decays 0 and 4095, the largest
    bias mantissa at the largest exponent, and a tiny input scale are all what a profile allows."""
    ranges = FixedPointRanges.from_profile(load_profile("loihi2"))
    q = bundle.quant()
    weight = _with(_with(q[f"{CONV}.weight_int"], (0, 0, 0, 0), ranges.weight.high), (0, 0, 0, 1), ranges.weight.low)
    bias = _with(_with(q[f"{LIF}.bias_mant"], (0, 0, 0), ranges.bias_mant.high), (0, 0, 1), ranges.bias_mant.low)
    bundle.edit_quant(**{
        f"{CONV}__weight_int": weight, f"{LIF}__vth": np.int32(ranges.vth.low), "act2__vth": np.int32(ranges.vth.high),
        f"{LIF}__du": np.int32(ranges.decay.low), f"{LIF}__dv": np.int32(ranges.decay.high), f"{LIF}__bias_mant": bias,
        f"{LIF}__bias_exp": np.int32(ranges.bias_exp.high), "input__scale": np.float64(1e-30),
    })  # fmt: skip
    assert (ranges.weight.low, ranges.weight.high, ranges.vth.low) == (-254, 254, 1)
    program = open_bundle(bundle.root).program
    assert program.layers[LIF].vth == 1 and int(program.synapses[1].weight_int.max()) == 254
    images, labels = digits_test_set
    result = run_bundle(open_bundle(bundle.root), images[:3], labels[:3], progress=False)
    assert result.samples == 3


def test_enof_run_refuses_an_out_of_range_weight_in_one_line_with_exit_1(bundle, cli_refuses, tmp_path):
    bundle.edit_quant(**{f"{CONV}__weight_int": _with(bundle.quant()[f"{CONV}.weight_int"], (0, 0, 0, 0), 10000)})
    cli_refuses("enof-run", bundle.root, "--limit", "2", "-o", tmp_path / "run.json",
                fragments=(f"quant.npz: {CONV}.weight_int holds 10000, outside the loihi2 profile's 8-bit weight range [-254, 254]",))
    assert not (tmp_path / "run.json").exists()


def test_the_quant_npz_writer_gives_what_the_reader_reads_back(tmp_path):
    from enof.formats.quant import open_quant, quant_npz_bytes

    arrays = {"conv.weight_int": np.arange(-4, 4, dtype=np.int32).reshape(2, 1, 2, 2), "lif.vth": np.int32(7),
              "lif.bias_float": np.array([0.5, -1.25], np.float32), "input.scale": np.float64(3.5)}  # fmt: skip
    (tmp_path / "quant.npz").write_bytes(quant_npz_bytes(arrays))
    with open_quant(tmp_path / "quant.npz") as quant:
        assert (quant.integers("conv.weight_int", "conv", (2, 1, 2, 2), None) == arrays["conv.weight_int"]).all()
        assert quant.integer("lif.vth", "lif", None) == 7 and quant.number("input.scale", "input") == 3.5
        assert quant.floats("lif.bias_float", "lif", (2,)).tolist() == [0.5, -1.25]
        quant.check_all_used()


@pytest.mark.parametrize("profile", available_profiles())
def test_the_readers_ranges_are_the_exporters_limits_for_every_profile(profile):
    # The exporter (FixedPointLimits) and the bundle reader (FixedPointRanges) take their bounds from one
    # formula each (enof.formats.quant): a bundle the exporter writes at its edge must be one the reader takes.
    from enof.exporter.quantize import FixedPointLimits

    loaded = load_profile(profile)
    limits, ranges = FixedPointLimits.from_profile(loaded), FixedPointRanges.from_profile(loaded)
    assert (ranges.weight.low, ranges.weight.high) == (-limits.weight_max, limits.weight_max)
    assert (ranges.bias_mant.low, ranges.bias_mant.high) == (-(2 ** (limits.bias_mant_bits - 1) - 1),
                                                             2 ** (limits.bias_mant_bits - 1) - 1)
    assert ranges.weight_exp.high == limits.weight_exp_max and ranges.bias_exp.high == limits.bias_exp_max
    if limits.weight_mant_bits == 8:  # Lava's 8-bit Dense register: even weights up to 254; 6 bits: multiples of 8
        assert limits.weight_max == 254
        assert FixedPointLimits.from_profile(loaded, weight_bits=6).weight_max == 256 - 8
