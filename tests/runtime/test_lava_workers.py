"""run_lava with workers = 2: its chunks in two independent Lava runs at once give exactly the single-run result
(every chunk starts from a fresh network, so the order runs finish in cannot matter), and the watchdog still
ends every worker when one chunk fails."""

from __future__ import annotations

import numpy as np
import pytest

import enof.runtime.lava.backend as lava_backend
from enof.errors import RunError
from enof.runtime.fast import simulate
from enof.runtime.lava.backend import LavaFault, live_processes_in_group, run_lava


def test_two_lava_workers_give_the_bit_exact_result(random_program, random_inputs):
    # The built-in simulator stands for the one-worker run: Lava fixed point equals it bit for bit
    # (test_lava_equivalence.py), and it costs no Lava run here.
    program = random_program(input_mode="graded", seed=5)
    x = random_inputs(program, batch=2, seed=5)
    one = simulate(program, x, "fixed")
    two = run_lava(program, x, "fixed", timeout_s=120, samples_per_run=1, workers=2)  # 2 chunks at once
    for name in program.outputs:
        np.testing.assert_array_equal(two.outputs[name], one.outputs[name], err_msg=name)
    for name in program.layers:
        np.testing.assert_array_equal(two.spike_counts[name], one.spike_counts[name], err_msg=name)


def test_a_failing_chunk_among_two_workers_is_one_line_and_ends_every_worker(random_program, random_inputs, monkeypatch):
    started = []
    original = lava_backend._LiveChildren.add

    def recording(self, child):
        started.append(child.pid)
        original(self, child)

    monkeypatch.setattr(lava_backend._LiveChildren, "add", recording)
    program = random_program(input_mode="graded", seed=0)
    with pytest.raises(RunError) as info:
        run_lava(program, random_inputs(program, batch=2), "fixed", timeout_s=120, samples_per_run=1, workers=2,
                 fault=LavaFault("b.1.act", "raise", 3))  # fmt: skip
    assert "\n" not in str(info.value) and "fault injected at step 3" in str(info.value)
    assert started and all(live_processes_in_group(pid) == [] for pid in started)
