"""quant.npz's ``input.scale`` against the input integers it fills (docs/design.md §5).

``x_int = clip(round(x · input.scale))`` is what the chip takes: a signed graded payload (Loihi 2, 24 bits:
|x_int| ≤ 8388607) or the host-in current aligned into the state (Loihi 1, 24 − 6 = 18 bits: ≤ 131071). The
exporter sizes the scale for the inputs it calibrated on and records that range in the manifest
(interfaces.chip_input.input_abs_max); a scale that carries that range past the integers' end clips every
input to it (``input.scale = 1e30``: the first layer fired at rate 1). Edited into a real exported bundle and
re-hashed, refused on one side of the bound, run on the other.
"""

import numpy as np
import pytest

from enof.errors import BundleError, RunError
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle

TOP = {"loihi2": 2**23 - 1, "loihi": 2**17 - 1}  # signed: graded_spike_bits 24; state_bits 24 − ACT_SHIFT 6


def _recorded(bundle) -> tuple[float, float]:
    """(input.scale, input_abs_max) as the exporter wrote them."""
    return float(bundle.quant()["input.scale"]), bundle.manifest()["interfaces"]["chip_input"]["input_abs_max"]


@pytest.mark.parametrize("target", ["loihi2", "loihi"])
def test_the_exporter_records_a_range_its_scale_fits(edited_bundle, target):
    scale, x_max = _recorded(edited_bundle(target))
    if target == "loihi2":  # digits: raw 0..16 / std 16 → |x| ≤ 1, input.scale = std = 16: the raw integers exactly
        assert (scale, x_max) == (16.0, 1.0)
    else:  # current mode: the scale is the first LIF's S / 64; the quantizer keeps the current in half the state
        assert 0 < scale * x_max <= (2**23 - 1) / 2 / 64


@pytest.mark.parametrize("target", ["loihi2", "loihi"])
def test_input_scale_1e30_is_refused_naming_file_field_value_and_the_largest_that_fits(edited_bundle, refused, target):
    bundle = edited_bundle(target)
    _, x_max = _recorded(bundle)
    bundle.edit_quant(input__scale=np.float64(1e30))
    mode, bits = ("graded", 24) if target == "loihi2" else ("current", 18)
    largest = TOP[target] / x_max
    message = refused(lambda: open_bundle(bundle.root), BundleError,
                      f"the chip's {mode} input holds integers up to {TOP[target]} ({bits} bits): the largest "
                      f"input.scale that fits is {largest:.6g}")  # fmt: skip
    assert message.startswith(f"{bundle.root / 'quant.npz'}: input.scale is 1e+30, but the inputs the bundle was "
                              f"sized for reach |x| = {x_max:.6g} (manifest interfaces.chip_input.input_abs_max)")


@pytest.mark.parametrize("target", ["loihi2", "loihi"])
def test_the_largest_scale_that_fits_opens_and_one_percent_more_is_refused(edited_bundle, refused, digits_test_set, target):
    bundle = edited_bundle(target)
    _, x_max = _recorded(bundle)
    largest = TOP[target] / x_max
    bundle.edit_quant(input__scale=np.float64(largest))
    opened = open_bundle(bundle.root)
    images, labels = digits_test_set
    if target == "loihi":  # the current saturates at the 18-bit end and the run goes on
        assert run_bundle(opened, images[:2], labels[:2], progress=False).samples == 2
    else:  # 24-bit pixels times 8-bit weights pass int32 in the first conv: the simulator's run-time guard says so
        with pytest.raises(RunError, match="conv1: convolution sum .* exceeds int32.* the inputs reach the ends of"):
            run_bundle(opened, images[:2], labels[:2], progress=False)
    bundle.edit_quant(input__scale=np.float64(largest * 1.01))
    refused(lambda: open_bundle(bundle.root), BundleError, f"the largest input.scale that fits is {largest:.6g}")


@pytest.mark.parametrize("value, problem", [
    (-1.0, "is -1.0, outside [0, inf]"), ({"x": 1}, "must be a finite number, got object {'x': 1}"),
    ("1", "must be a finite number, got string '1'"), (True, "must be a finite number, got boolean True"),
    ([1.0], "must be a finite number, got array [1.0]")])  # fmt: skip
def test_a_recorded_range_that_is_not_a_finite_number_is_one_line(edited_bundle, refused, value, problem):
    bundle = edited_bundle("loihi2")
    bundle.edit_manifest(lambda m: m["interfaces"]["chip_input"].update(input_abs_max=value))
    refused(lambda: open_bundle(bundle.root), BundleError, f"field 'interfaces.chip_input.input_abs_max' {problem}")


def test_a_bundle_exported_before_the_range_was_recorded_is_not_checked(edited_bundle):
    """Bundles of format 2 written before the field existed carry no range: the reader cannot know what the scale
    was sized for (re-exporting records it)."""
    bundle = edited_bundle("loihi2")
    bundle.edit_manifest(lambda m: m["interfaces"]["chip_input"].pop("input_abs_max"))
    bundle.edit_quant(input__scale=np.float64(1e30))
    assert open_bundle(bundle.root).program.input_scale == 1e30
