"""Numbers at the edge of what a reader or the chip's input accepts, each tested on both sides of its bound:
a JSON number beyond float's range (1e400 parses to infinity in Python's json), and the top of the
signed graded input range (2^(bits−1) − 1: one more is the sign bit)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import numpy as np
import pytest

from enof.errors import BundleError, RunResultError
from enof.formats.bundle import read_bundle
from enof.formats.run_result import read_run_result
from enof.runtime.bundle import open_bundle

FLOAT_MAX_LITERAL = repr(sys.float_info.max)  # 1.7976931348623157e+308: the largest finite double


def _run_json_with(tmp_path, data: dict, bundle, wall_s_literal: str):
    """run.json as text with ``wall_s`` written literally (json.dumps cannot write 1e400)."""
    data["bundle"] = str(bundle)
    path = tmp_path / "run.json"
    path.write_text(json.dumps({**data, "wall_s": 12345.5}).replace('"wall_s": 12345.5', f'"wall_s": {wall_s_literal}'))
    return path


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1.8e308"])
def test_a_float_literal_beyond_float_range_is_refused_not_read_as_infinity(digits_run, tmp_path, refused, literal):
    bundle, data = digits_run("loihi2")
    path = _run_json_with(tmp_path, data, bundle, literal)
    refused(lambda: read_run_result(path), RunResultError,
            f"run.json: not valid JSON ('{literal}' is beyond float's range ±1.8e308)")


def test_enof_energy_refuses_a_run_json_of_1e400_in_one_line(digits_run, tmp_path, cli_refuses):
    bundle, data = digits_run("loihi2")
    path = _run_json_with(tmp_path, data, bundle, "1e400")
    cli_refuses("enof-energy", path, fragments=(str(path), "not valid JSON ('1e400' is beyond float's range ±1.8e308)"))


def test_the_largest_finite_float_literal_is_read_exactly(digits_run, tmp_path):
    """The other side of the bound: 1.7976931348623157e+308 is a finite wall time and reads back unchanged."""
    bundle, data = digits_run("loihi2")
    path = _run_json_with(tmp_path, data, bundle, FLOAT_MAX_LITERAL)
    assert read_run_result(path).wall_s == sys.float_info.max


def test_an_integer_literal_beyond_float_range_in_a_number_field_is_one_line(digits_run, tmp_path, refused):
    """10^400 is a valid JSON integer that Python reads exactly; as a float field it cannot be converted
    (math.isfinite raised OverflowError on it), so it is refused as not a finite number; 10^308 fits."""
    bundle, data = digits_run("loihi2")
    path = _run_json_with(tmp_path, data, bundle, "1" + "0" * 400)
    refused(lambda: read_run_result(path), RunResultError, "field 'wall_s' must be a finite number, got number 1000000000000000000000000000000000000...")
    path = _run_json_with(tmp_path, data, bundle, "1" + "0" * 308)
    assert read_run_result(path).wall_s == 1e308


def test_a_manifest_number_of_1e400_is_refused_where_enof_run_reads_it(edited_bundle, refused):
    bundle = edited_bundle("loihi2")
    raw = json.dumps(bundle.manifest())
    assert '"format_version": ' in raw
    bundle.write_manifest(raw.replace('"format_version": ', '"format_version_note": 1e400, "format_version": ', 1))
    refused(lambda: open_bundle(bundle.root), BundleError, "not valid JSON ('1e400' is beyond float's range ±1.8e308)")


# ---- the top of the signed graded input range: 2^(bits−1) − 1


def test_graded_input_clips_at_2_pow_23_minus_1_on_loihi2_24_bit_payload(digits_bundle):
    """Loihi 2's graded payload is 24 signed bits (loihi2.toml graded_spike_bits): integers
    −8388608 … 8388607. One past either end is clipped to it; the ends themselves travel unchanged."""
    program = open_bundle(digits_bundle("loihi2")[0]).program
    assert (program.input_mode, program.input_bits) == ("graded", 24)
    wanted = np.array([8388606, 8388607, 8388608, 9000000, -8388608, -8388609], np.float64)
    x_int = program.quantize_input(wanted / program.input_scale)
    assert x_int.tolist() == [8388606, 8388607, 8388607, 8388607, -8388608, -8388608]


def test_graded_input_clips_at_127_on_an_8_bit_payload(digits_bundle):
    """The same rule at 8 bits (a target with an 8-bit payload): 127 is the top, 128 is clipped, −128 is kept."""
    program = replace(open_bundle(digits_bundle("loihi2")[0]).program, input_bits=8)
    x_int = program.quantize_input(np.array([126, 127, 128, -128, -129], np.float64) / program.input_scale)
    assert x_int.tolist() == [126, 127, 127, -128, -128]


def test_a_manifest_mean_of_minus_the_largest_float_reads_and_minus_1e400_does_not(edited_bundle, refused):
    """The lower side of the same bound, on a field that may be negative (dataset.normalization.mean)."""
    bundle = edited_bundle("loihi2")
    manifest = bundle.manifest()
    manifest["dataset"]["normalization"]["mean"][0] = 12345.5
    raw = json.dumps(manifest)
    bundle.write_manifest(raw.replace("12345.5", f"-{FLOAT_MAX_LITERAL}"))
    assert read_bundle(bundle.root).manifest.dataset.mean[0] == -sys.float_info.max
    bundle.write_manifest(raw.replace("12345.5", "-1e400"))
    refused(lambda: read_bundle(bundle.root), BundleError, "not valid JSON ('-1e400' is beyond float's range ±1.8e308)")
