"""Long runs tell their time (issue 27): a Lava run is estimated before it starts from the network's size, and
every run prints its progress with the time left at least every LINE_EVERY_S seconds off a terminal."""

from __future__ import annotations

import io
import re
import time

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from enof.cli.run import app
from enof.runtime.lava.estimate import (
    LAVA_S_PER_MAC,
    LAVA_S_PER_PROCESS_STEP,
    LAVA_START_S,
    dense_macs_per_step,
    estimate_lava,
    lava_macs_per_step,
    lava_processes,
)
from enof.runtime.run_progress import RunProgress, clock


def test_dense_macs_count_every_weight_over_every_input_inside_the_padding(random_program):
    """The conftest program, by hand (taps per axis that land inside the input, squared, × C_in × C_out):
    conv 2→4 3×3 pad 1 on 8×8: 22² · 8; conv 4→6 3×3/2 pad 1 on 8×8: (2 + 3 + 3 + 3)² · 24; conv 6→6 3×3 pad 1
    on 4×4: 10² · 36; 1×1/2 shortcut 4→6: 16 · 24; dense 96→10: 960."""
    program = random_program("graded", seed=0)
    expected = 22**2 * 8 + 11**2 * 24 + 10**2 * 36 + 16 * 24 + 960
    assert dense_macs_per_step(program) == expected == 11_720


def test_the_estimate_is_start_up_per_run_plus_pipelined_steps_at_the_measured_speed(random_program):
    program = random_program("graded", seed=0)  # T = 4, 4 LIF layers, 5 synapses, depth 4
    depth = max(program.depths().values())
    step_s = LAVA_S_PER_PROCESS_STEP * (4 + 5 + 2) + LAVA_S_PER_MAC * 26_112  # Lava's MACs (the test below)
    one = estimate_lava(program, samples=10, batch_size=256)
    assert (one.runs, one.lava_steps) == (1, 10 * 4 + depth)
    assert abs(one.seconds - (LAVA_START_S + (40 + depth) * step_s)) < 1e-12
    split = estimate_lava(program, samples=600, batch_size=600, workers=2)  # runs of 256 samples: 3 runs, 2 at once
    assert (split.runs, split.lava_steps) == (3, 600 * 4 + 3 * depth)
    assert abs(split.seconds - (3 * LAVA_START_S + (2400 + 3 * depth) * step_s) / 2) < 1e-9


def test_off_a_terminal_a_line_with_the_time_left_comes_while_no_sample_is_done():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with RunProgress("lava/fixed", 2, estimate_s=100.0, console=console, line_every_s=0.05) as progress:
        deadline = time.monotonic() + 5
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)  # the heartbeat thread writes without any sample finishing
        progress.advance(2)
    lines = out.getvalue().splitlines()
    assert len(lines) >= 3, lines
    assert re.fullmatch(r"lava/fixed 0/2 samples, 0:00:0\d elapsed, 0:01:(39|40) left \(estimate\)", lines[0]), lines[0]
    assert re.fullmatch(r"lava/fixed 2/2 samples, 0:00:0\d elapsed, 0:00:00 left", lines[-1]), lines[-1]


def test_the_time_left_follows_the_samples_done_once_there_are_some():
    progress = RunProgress("fast/fixed", 10, estimate_s=1000.0)
    progress.started -= 20.0  # 20 s ago
    progress.done = 4
    assert abs(progress.remaining_s() - 30.0) < 0.5  # 5 s a sample, 6 to go; the estimate no longer counts
    assert (clock(3725), clock(None)) == ("1:02:05", "-:--:--")


def test_enof_run_on_lava_says_its_estimate_and_the_built_in_simulator_first(digits_bundle, tmp_path):
    bundle, _ = digits_bundle("loihi2")
    result = CliRunner().invoke(app, [str(bundle), "--backend", "lava", "--limit", "2", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("lava: about 0:00:0") and "for 2 samples × T = 2" in first
    assert "the built-in simulator (--backend fast) gives the same spikes" in first
    assert re.search(r"lava/fixed 2/2 samples, \d:\d\d:\d\d elapsed", result.stderr)
    short = CliRunner().invoke(app, [str(bundle), "--backend", "lava", "--limit", "2", "--timeout", "0.5",
                                     "-o", str(tmp_path / "s.json")])  # fmt: skip
    assert short.exit_code == 1
    assert "that is more than --timeout 0.5 s, which will stop the run unless raised" in short.stderr.splitlines()[0]
    assert not (tmp_path / "s.json").exists()


def test_lava_macs_count_the_stride_one_scipy_convolution_of_every_channel_pair(random_program):
    """Lava 0.10's Conv convolves each (output, input) channel pair over the whole padded input at stride 1
    (conv_scipy), then subsamples: conv 2→4 3×3 pad 1 on 8×8: 4·2 · 8² · 9; conv 4→6 3×3/2 pad 1 on 8×8:
    6·4 · 8² · 9 (its dense MACs are 11² · 24: the stride is paid in full); conv 6→6 on 4×4: 6·6 · 4² · 9;
    the 1×1/2 shortcut 4→6 on 8×8: 6·4 · 8²; the dense 96→10, a Sparse: 960."""
    program = random_program("graded", seed=0)
    expected = 8 * 64 * 9 + 24 * 64 * 9 + 36 * 16 * 9 + 24 * 64 + 960
    assert lava_macs_per_step(program) == expected == 26_112
    assert lava_processes(program) == 4 + 5 + 2
