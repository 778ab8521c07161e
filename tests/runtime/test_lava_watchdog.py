"""The Lava watchdog: a crash or a hang inside a Lava ProcessModel becomes a one-line RunError, and no
process of the run outlives ``run_lava``."""

from __future__ import annotations

import os
import time

import pytest

import enof.runtime.lava.backend as lava_backend
from enof.errors import RunError
from enof.runtime.lava.backend import LavaFault, live_processes_in_group, run_lava


@pytest.fixture
def worker_pids(monkeypatch):
    """Records the pid (= process group and session id) of every Lava worker that run_lava starts."""
    pids: list[int] = []
    original = lava_backend.end_process_group

    def recording(child):
        pids.append(child.pid)
        original(child)

    monkeypatch.setattr(lava_backend, "end_process_group", recording)
    return pids


def _processes_in_session(sid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def _assert_nothing_left(pids: list[int]) -> None:
    assert pids, "run_lava started no worker"
    for pid in pids:
        assert live_processes_in_group(pid) == []
        assert _processes_in_session(pid) == []
    with open(f"/proc/{os.getpid()}/task/{os.getpid()}/children") as f:
        children = [int(p) for p in f.read().split()]
    assert not set(children) & set(pids)


def test_exception_inside_a_process_model_is_a_one_line_run_error(random_program, random_inputs, worker_pids):
    program = random_program(input_mode="graded", seed=0)
    x = random_inputs(program, batch=2)
    with pytest.raises(RunError) as info:
        run_lava(program, x, "fixed", timeout_s=120, fault=LavaFault("b.1.act", "raise", 3))
    message = str(info.value)
    assert "\n" not in message
    assert "fault injected at step 3" in message  # the model's own exception, not lava's "1 Exception(s)"
    _assert_nothing_left(worker_pids)


def test_a_killed_lava_process_is_reported_without_waiting_for_the_timeout(random_program, random_inputs, worker_pids):
    program = random_program(input_mode="graded", seed=0)
    x = random_inputs(program, batch=2)
    start = time.monotonic()
    with pytest.raises(RunError, match=r"died with exit code -9 and no exception"):
        run_lava(program, x, "fixed", timeout_s=60, fault=LavaFault("b.2.act2", "crash", 2))
    assert time.monotonic() - start < 30.0  # reported by the watcher, not by the 60 s timeout
    _assert_nothing_left(worker_pids)


def test_hang_inside_lava_ends_at_the_timeout_and_kills_every_lava_process(random_program, random_inputs, worker_pids):
    program = random_program(input_mode="current", seed=0)
    x = random_inputs(program, batch=2)
    timeout_s = 6.0
    start = time.monotonic()
    with pytest.raises(RunError, match="did not finish within 6 s"):
        run_lava(program, x, "fixed", timeout_s=timeout_s, fault=LavaFault("fc.act", "hang", 2))
    elapsed = time.monotonic() - start
    # timeout + the SIGTERM grace period + slack for a loaded 2-core machine
    assert elapsed < timeout_s + lava_backend.TERM_GRACE_S + 5.0
    _assert_nothing_left(worker_pids)


def test_a_program_lava_cannot_build_names_the_synapse(random_program, random_inputs, worker_pids):
    program = random_program(input_mode="graded", seed=0)
    # without its padding the strided conv's output (3 × 3) no longer fits its LIF (4 × 4)
    strided = next(s for s in program.synapses if s.name == "b.1.conv")
    object.__setattr__(strided.connection, "padding", (0, 0))  # past ChipProgram's checks, as a damaged build would be
    with pytest.raises(RunError, match=r"b\.1\.conv: Lava conv output \(3, 3, 6\) != b\.1\.act \(4, 4, 6\)"):
        run_lava(program, random_inputs(program, batch=1), "fixed", timeout_s=120)
    _assert_nothing_left(worker_pids)


def test_a_worker_ended_by_sigterm_from_outside_says_so_not_the_resource_tracker(random_program, random_inputs,
                                                                                    monkeypatch):
    """Issue 27: the line named a resource_tracker warning printed as the group died; now it names the signal."""
    import signal
    import threading

    started = []
    original = lava_backend._LiveChildren.add

    def add(self, child):
        original(self, child)
        started.append(child)

    def terminate_it():
        while not started:
            time.sleep(0.05)
        time.sleep(4.0)  # inside Lava by then (the fault hangs it at step 2)
        os.kill(started[0].pid, signal.SIGTERM)

    monkeypatch.setattr(lava_backend._LiveChildren, "add", add)
    program = random_program(input_mode="graded", seed=0)
    threading.Thread(target=terminate_it, daemon=True).start()
    with pytest.raises(RunError) as info:
        run_lava(program, random_inputs(program, batch=2), "fixed", timeout_s=120, fault=LavaFault("b.1.act", "hang", 2))
    message = str(info.value)
    assert message.startswith("the Lava worker was ended by SIGTERM from outside enof"), message
    assert "resource_tracker" not in message and "\n" not in message


def test_shutdown_warnings_are_dropped_from_a_workers_log():
    log = ("Traceback (most recent call last):\nValueError: the real cause\n"
           "/usr/lib/python3.11/multiprocessing/resource_tracker.py:254: UserWarning: resource_tracker: There appear "
           "to be 3 leaked shared_memory objects to clean up at shutdown\n"
           "  warnings.warn('resource_tracker: There appear to be %d '\n")
    assert lava_backend._without_shutdown_noise(log) == "Traceback (most recent call last):\nValueError: the real cause"
