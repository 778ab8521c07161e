"""Killing the parent of a Lava run (``enof-run --backend lava``, or any caller of ``run_lava``) by SIGKILL
or SIGTERM ends the Lava worker and every process Lava forked, and leaves no temporary file behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from enof.runtime.lava.backend import live_processes_in_group

WORKER_MODULE = "enof.runtime.lava.worker"
STARTUP_S = 120.0  # enof-run imports torch and onnxruntime, the worker imports Lava: slow on a loaded machine
CLEANUP_S = 15.0  # the kernel's death signals are immediate; slack for a loaded 2-core machine
POLL_S = 0.05

# A caller whose Lava run never ends (a ProcessModel hangs): only its death can end the worker.
HUNG_RUN = """
import sys
import numpy as np
from enof.runtime.lava.backend import LavaFault, run_lava
from enof.runtime.bundle import open_bundle
program = open_bundle(sys.argv[1]).program
x = np.zeros((1, *program.input_shape), np.float32)
run_lava(program, x, timeout_s=3600, fault=LavaFault(next(iter(program.layers)), "hang", 1))
"""


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode() for part in f.read().split(b"\0") if part]
    except OSError:
        return []  # gone (a zombie has an empty command line too)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _poll(condition, timeout_s: float):
    """``condition()`` once it is truthy, polled until ``timeout_s`` has passed (then its last value)."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return found


def _leftovers(tmp: Path) -> list[str]:
    # Hidden files are not the run's (onnxruntime keeps a session file in the temporary folder).
    return sorted(p.name for p in tmp.iterdir() if not p.name.startswith("."))


@pytest.fixture
def run_tmpdir(request) -> Path:
    """The run's TMPDIR, where whatever it leaves shows. Short: multiprocessing's Unix sockets live in
    it, and a socket's path has at most 107 bytes."""
    tmp = Path(tempfile.mkdtemp(prefix="enof-kill-"))
    request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    return tmp


def _start_then_kill(args: list[str], signum: int, tmp: Path, logs: Path) -> tuple[int, int, list[int]]:
    """Start ``args``, send ``signum`` once its Lava worker runs Lava's processes; (exit code, worker, forked)."""
    with open(logs / "stdout.txt", "w") as stdout, open(logs / "stderr.txt", "w") as stderr:
        parent = subprocess.Popen(args, stdout=stdout, stderr=stderr, env={**os.environ, "TMPDIR": str(tmp)})

    def running_worker():
        assert parent.poll() is None, f"ended (exit {parent.returncode}) first: {(logs / 'stderr.txt').read_text()}"
        for pid in _children(parent.pid):
            command = _cmdline(pid)
            if WORKER_MODULE in command:  # Lava's shared-memory manager and at least one actor forked
                forked = [child for child in _children(pid) if _cmdline(child) == command]
                return (pid, forked) if len(forked) >= 2 else None
        return None

    worker = None
    try:
        found = _poll(running_worker, STARTUP_S)
        assert found, f"no running Lava worker within {STARTUP_S:g} s"
        worker, forked = found
        assert any(name.startswith("pymp-") for name in _leftovers(tmp)), "the worker's folder is where expected"
        parent.send_signal(signum)
        rc = parent.wait(timeout=CLEANUP_S)
        # start_new_session: the worker leads its own group, which holds every process Lava forked
        assert _poll(lambda: not live_processes_in_group(worker), CLEANUP_S), live_processes_in_group(worker)
        assert not [pid for pid in [worker, *forked] if _cmdline(pid)]
        return rc, worker, forked
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if worker is not None and live_processes_in_group(worker):  # a failed test leaves no processes either
            os.killpg(worker, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_enof_run_ends_its_lava_worker_and_removes_its_temporary_files(
    digits_bundle, tmp_path, run_tmpdir, signum
):
    bundle, _ = digits_bundle("loihi2")
    output = tmp_path / "run.json"
    script = Path(sys.executable).with_name("enof-run")
    args = [str(script), str(bundle), "--backend", "lava", "--limit", "360", "-o", str(output)]
    rc, _, _ = _start_then_kill(args, signum, run_tmpdir, tmp_path)
    assert _poll(lambda: not _leftovers(run_tmpdir), CLEANUP_S), _leftovers(run_tmpdir)
    assert not output.exists()
    if signum == signal.SIGKILL:
        assert rc == -signal.SIGKILL
        return
    err = (tmp_path / "stderr.txt").read_text()
    assert rc == 143  # 128 + SIGTERM, as enof-train and a process the signal itself ends (README "Exit codes")
    assert "Traceback" not in err + (tmp_path / "stdout.txt").read_text()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == ["error: Lava run stopped by SIGTERM; its processes were ended"], err


@pytest.mark.slow
def test_a_hung_lava_worker_dies_with_its_sigkilled_parent(digits_bundle, tmp_path, run_tmpdir):
    # The worker of a run that would end by itself could end before the check: this one never does.
    bundle, _ = digits_bundle("loihi2")
    rc, _, _ = _start_then_kill([sys.executable, "-c", HUNG_RUN, str(bundle)], signal.SIGKILL, run_tmpdir, tmp_path)
    assert rc == -signal.SIGKILL
    assert _poll(lambda: not _leftovers(run_tmpdir), CLEANUP_S), _leftovers(run_tmpdir)
