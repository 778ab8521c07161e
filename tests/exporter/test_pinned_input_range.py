"""The exporter's check of the chip's input integers against the top of the signed graded range,
2^(bits−1) − 1, on both sides (enof.exporter.quantize; the runtime's clip is pinned in
tests/formats/test_pinned_number_limits.py)."""

from __future__ import annotations

import pytest

from enof.errors import DoesNotFitError
from enof.exporter.graph import capture
from enof.exporter.partition import partition
from enof.exporter.quantize import FixedPointLimits, quantize


@pytest.fixture(scope="module")
def digits_graph(model_factory):
    model = model_factory("digits_cnn", repact=True, timesteps=2, width=8)
    return capture(model, (1, 8, 8), 2)


LIMITS_8_BIT_GRADED = FixedPointLimits(weight_bits=8, vth_mant_bits=17, bias_mant_bits=13, bias_exp_max=7,
                                       decay_bits=12, state_bits=24, graded_spike_bits=8)  # fmt: skip


def test_exporter_accepts_an_input_peak_of_exactly_127_at_8_graded_bits(digits_graph):
    part = partition(digits_graph, graded_spikes=True)
    q = quantize(digits_graph, part, LIMITS_8_BIT_GRADED, 127.0 / 2.5, {"input": {"x_max": 2.5}})
    assert q.input_scale == 127.0 / 2.5


def test_exporter_refuses_an_input_peak_of_128_at_8_graded_bits(digits_graph):
    """One past the top: x_max · input.scale = 128 does not fit a signed 8-bit payload."""
    part = partition(digits_graph, graded_spikes=True)
    with pytest.raises(DoesNotFitError, match=r"^input: \|x_int\| reaches 128 > 127 \(graded input, 8 bits\) at input.scale = 51.2$"):
        quantize(digits_graph, part, LIMITS_8_BIT_GRADED, 128.0 / 2.5, {"input": {"x_max": 2.5}})
