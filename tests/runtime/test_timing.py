"""The chip-time model (enof.runtime.energy.timing) against step times worked out by hand."""

import pytest

from enof.formats.run_result import CoreSteps, HostCost
from enof.hardware_profiles import Quantity, TimingSection
from enof.runtime.energy.timing import CoreTimingInputs, chip_time


def _q(value):
    return Quantity(value, "test", "assumption")


TIMING = TimingSection(  # round numbers, so every step below can be added up by hand (ns)
    synop_ns=_q(1.0), message_in_ns=_q(5.0), neuron_update_ns=_q(1.0), spike_out_ns=_q(10.0), message_out_ns=_q(2.0),
    hop_ew_ns=_q(5.0), hop_ns_ns=_q(7.0), barrier_us=_q([[1, 0.1], [2, 0.2]]), host_to_chip_bytes_per_s=_q(1e6),
    chip_to_host_bytes_per_s=_q(1e6), host_io_latency_us=_q(0.0),
)
# layer a (depth 1, 10 neurons) on tile (0, 0) feeds layer b (depth 2, 4 neurons) on tile (1, 0): one E-W hop
CORES = [CoreTimingInputs(0, "a", 1, 10, (0, 0, 0), 5.0), CoreTimingInputs(1, "b", 2, 4, (0, 1, 0), 0.0)]


def _steps(scale=1):
    a = CoreSteps(0, [2, 3], [10, 0], [2, 3], [0, 0], [2, 3], [10, 0], [2, 3], [0, 0])
    b = CoreSteps(1, [1, 0], [8, 12], [0, 0], [2, 3], [1, 0], [8, 12], [0, 0], [2, 3])
    return [CoreSteps(s.core_id, *([v * scale for v in getattr(s, f)] for f in
                                   ("spikes", "synops", "messages_out", "messages_in")),
                      s.spikes_max, s.synops_max, s.messages_out_max, s.messages_in_max) for s in (a, b)]


def test_one_sample_alone_fills_the_pipeline_and_each_step_waits_for_its_slowest_core():
    time = chip_time(CORES, _steps(), 1, 2, HostCost(0, 0, 0, 0), TIMING)
    # wall step k: layer a updates its sample step k-1 and integrates messages of step k; b: k-2 and k-1.
    # k=0: a idle neurons 10 | host events 10 synops -> 10; barrier (2 tiles) 200 ns
    # k=1: a 10 + 2 spikes x 10 + 2 messages x 2 = 34, b takes 2 x 5 + 8 = 18; a sends: mesh 5
    # k=2: a 10 + 30 + 6 = 46, b max(4 + 10, 3 x 5 + 12 = 27); mesh 5
    # k=3: a idle 10, b 4: 10
    assert [s.step_ns for s in time.alone] == pytest.approx([210, 239, 251, 210])
    assert time.latency_s == pytest.approx(910e-9) and time.fill_steps == 2
    assert [(s.pacing_layer, s.pacing_phase) for s in time.alone[1:3]] == [("a", "neuron"), ("a", "neuron")]
    # streamed: wall step 0 holds a's step 1 (46) beside b's step 0 (27); wall step 1 as k=1 above
    assert [s.step_ns for s in time.stream] == pytest.approx([251, 239])
    assert time.inferences_per_s == pytest.approx(1 / 490e-9)
    by_phase = time.time_by_phase_s("stream")
    assert by_phase["neuron"] == pytest.approx(80e-9) and by_phase["barrier"] == pytest.approx(400e-9)
    assert by_phase["mesh"] == pytest.approx(10e-9) and by_phase["io"] == 0.0


def test_mean_counts_divide_by_samples_and_the_bound_takes_the_maxima():
    one = chip_time(CORES, _steps(), 1, 2, HostCost(0, 0, 0, 0), TIMING)
    # three samples whose sums are 3x one sample's: the same typical step times
    mean = chip_time(CORES, _steps(3), 3, 2, HostCost(0, 0, 0, 0), TIMING)
    assert mean.latency_s == pytest.approx(one.latency_s)
    bound = chip_time(CORES, _steps(3), 3, 2, HostCost(0, 0, 0, 0), TIMING, counts="max")
    assert bound.latency_s == pytest.approx(one.latency_s)  # the maxima are one sample's counts


def test_a_step_lasts_as_long_as_its_host_io_when_that_is_longer():
    # 2 bytes to the host per inference = 1 byte per step at 1 MB/s = 1 us, from wall step D = 2 on
    time = chip_time(CORES, _steps(), 1, 2, HostCost(0, 0, 0, 2), TIMING)
    assert [s.step_ns for s in time.alone] == pytest.approx([210, 239, 1000, 1000])
    assert [s.io_bound for s in time.alone] == [False, False, True, True]
    assert time.time_by_phase_s("alone")["io"] == pytest.approx(2e-6)


def test_a_static_image_crosses_the_link_once_per_sample_and_event_frames_every_step():
    # 300 bytes to the chip per inference at 1 MB/s: a static image all in the sample's first step (300 us), event
    # frames 150 bytes in each of the T = 2 steps (150 us each); alone the input goes in at wall steps 0 and 1
    static = chip_time(CORES, _steps(), 1, 2, HostCost(0, 0, 300, 0), TIMING, input_every_step=False)
    assert [s.step_ns for s in static.alone] == pytest.approx([300_000, 239, 251, 210])
    assert [s.step_ns for s in static.stream] == pytest.approx([300_000, 239])  # the next image, once a period
    events = chip_time(CORES, _steps(), 1, 2, HostCost(0, 0, 300, 0), TIMING, input_every_step=True)
    assert [s.step_ns for s in events.alone] == pytest.approx([150_000, 150_000, 251, 210])
    assert [s.step_ns for s in events.stream] == pytest.approx([150_000, 150_000])


def test_a_given_step_time_replaces_the_model():
    time = chip_time(CORES, _steps(), 1, 2, HostCost(0, 0, 0, 0), TIMING, given_step_us=3.0)
    assert time.latency_s == pytest.approx(4 * 3e-6) and time.period_s == pytest.approx(2 * 3e-6)
    assert time.given_step_us == 3.0
