"""Run a ChipProgram on Lava (lava-nc 0.10.0, CPU) under a watchdog; returns the fast simulator's ChipRun.

The Lava network is built and run in a child process (``python -m enof.runtime.lava.worker``) in
its own process group: a hang or a crash inside Lava becomes a one-line ``RunError`` with the
tail of the child's traceback, and the whole group (every forked Lava process) is ended before
``run_lava`` returns. The child dies with this process however it dies (even by SIGKILL), and the
job, result and log travel in unnamed temporary files, so a killed run leaves nothing behind; a
SIGTERM during a run ends the group and raises ``TerminatedError`` (exit 143). This module never imports lava
(importing lava forces multiprocessing's 'fork' start method on the whole program).

Layouts between torch and Lava are in ``layout.py``; the network is built in ``builder.py``.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import BinaryIO, Iterator, Literal

import numpy as np

from enof.errors import RunError, TerminatedError
from enof.formats.fixed_point import LAVA_STATE_BITS
from enof.runtime.program import ChipProgram, ChipRun

Precision = Literal["fixed", "float"]
TERM_GRACE_S = 2.0  # after SIGTERM, time the group gets to exit (and free shared memory) before SIGKILL
TRACEBACK_TAIL_CHARS = 600
DEFAULT_SAMPLES_PER_RUN = 256  # one Lava run holds B·T input steps and the outputs' spike record


# ---------------------------------------------------------------- the job passed to the worker
@dataclass(frozen=True)
class LavaFault:
    """Test hook: make the CountingLIF ``layer`` raise, hang or crash at Lava time step ``step``."""

    layer: str
    kind: Literal["raise", "hang", "crash"]
    step: int


@dataclass(frozen=True)
class LavaJob:
    program: ChipProgram
    source: np.ndarray  # (B, *program.sample_shape): x_int (fixed, int64) or x (float, float64), torch layout
    precision: Precision
    fault: LavaFault | None = None
    netx_file: bytes | None = None  # chip.net.h5 (checked): the worker runs lava-dl's netx network instead


@dataclass(frozen=True)
class LavaTimings:
    """Where the time of one Lava run went (seconds) and the number of Lava steps it ran."""

    compile_s: float
    start_s: float
    run_s: float
    readback_s: float
    steps: int
    processes: int

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.run_s / max(1, self.steps)


# ---------------------------------------------------------------- host side: run + watchdog
def run_lava(
    program: ChipProgram, x: np.ndarray, precision: Precision = "fixed", timeout_s: float = 600.0, **options
) -> ChipRun:
    """Run ``program`` on x (B, *program.sample_shape) float in Lava, the samples pipelined in one run per chunk.

    fixed: ``Loihi2SimCfg(select_tag="fixed_pt")`` on the program's integers; float: ``floating_pt``
    on its float weights. Returns outputs in aligned time (T, B, *shape) and per-neuron spike
    counts per layer (relay neurons excluded), like ``enof.runtime.fast.simulate``. ``timeout_s``
    bounds the whole call. ``options``: ``samples_per_run`` (bounds one Lava run: its input buffer
    and spike record), ``workers`` (that many independent Lava runs of the chunks at once, each under the
    watchdog: the same results, as every chunk starts from a fresh network), ``fault`` (tests only),
    ``netx_file`` (the bundle's checked chip.net.h5: lava-dl's netx network runs instead of enof's own), as in
    ``run_lava_timed``.
    """
    return run_lava_timed(program, x, precision, timeout_s, **options)[0]


def run_lava_timed(
    program: ChipProgram,
    x: np.ndarray,
    precision: Precision = "fixed",
    timeout_s: float = 600.0,
    fault: LavaFault | None = None,
    samples_per_run: int = DEFAULT_SAMPLES_PER_RUN,
    workers: int = 1,
    netx_file: bytes | None = None,
) -> tuple[ChipRun, LavaTimings]:
    """``run_lava`` that also returns where the time went (summed over the runs; processes of the largest)."""
    x = np.asarray(x)
    if x.ndim < 2 or tuple(x.shape[1:]) != program.sample_shape or x.shape[0] == 0:
        raise RunError(f"input shape {tuple(x.shape)} does not match (B, *{program.sample_shape}) with B >= 1")
    if precision not in ("fixed", "float"):
        raise RunError(f"unknown precision {precision!r} (fixed|float)")
    if precision == "fixed" and program.state_bits != LAVA_STATE_BITS:  # refused before a worker starts
        raise RunError(
            f"the target's u and v are {program.state_bits}-bit; Lava's bit-accurate LIF is "
            f"{LAVA_STATE_BITS}-bit: run this bundle on the built-in simulator (--backend fast)"
        )
    if netx_file is not None and precision != "fixed":
        raise RunError("netx runs chip.net.h5's integers: fixed point only")
    source = program.quantize_input(x) if precision == "fixed" else np.asarray(x, np.float64)
    step = max(1, samples_per_run)
    jobs = [LavaJob(program, source[begin : begin + step], precision, fault, netx_file)
            for begin in range(0, len(source), step)]
    with sigterm_raises_run_error():
        parts = _run_chunks(jobs, max(1, workers), timeout_s)
    totals = {f.name: sum(p[f"timing:{f.name}"].item() for p in parts) for f in fields(LavaTimings)}
    timings = LavaTimings(**{**totals, "processes": max(p["timing:processes"].item() for p in parts)})
    run = ChipRun(
        outputs={n: np.concatenate([p[f"out:{n}"] for p in parts], axis=1).astype(np.float32) for n in program.outputs},
        spike_counts={n: sum(p[f"count:{n}"].astype(np.int64) for p in parts) for n in program.layers},
        input_nonzero=program.input_nonzero(source),
        spikes={n: np.concatenate([p[f"out:{n}"] for p in parts], axis=1).astype(np.uint8) for n in program.layers},
        input_events=np.asarray(source) != 0,
    )
    return run, timings


def _run_chunks(jobs: list[LavaJob], workers: int, timeout_s: float) -> list[dict[str, np.ndarray]]:
    """Each job in its own watched Lava worker, ``workers`` at a time, all within ``timeout_s`` of now; results in
    job order. The first failure (or SIGTERM, or the deadline) ends every running worker's group and is raised;
    jobs not yet started are dropped."""
    deadline = time.monotonic() + timeout_s
    running = _LiveChildren()

    def run(index: int) -> dict[str, np.ndarray]:
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0 or running.stopped:
            samples = sum(len(job.source) for job in jobs[:index])
            raise RunError(f"Lava run did not finish within {timeout_s:g} s (chunk at sample {samples} not started)")
        return _run_chunk(jobs[index], remaining_s, timeout_s, running)

    if workers == 1 or len(jobs) == 1:  # in this thread: the worker is the main thread's child, as callers expect
        return [run(i) for i in range(len(jobs))]
    # Each worker's PR_SET_PDEATHSIG fires when the thread that started it ends: a pool thread ends only after
    # its worker's group has been ended (``_run_worker``'s finally), so no worker is killed early.
    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="lava-chunk")
    futures = [pool.submit(run, i) for i in range(len(jobs))]
    try:
        wait(futures, return_when=FIRST_EXCEPTION)  # a SIGTERM handler's RunError interrupts this wait
        failed = next((future for future in futures if future.done() and future.exception()), None)
        if failed is not None:
            raise failed.exception()
        return [future.result() for future in futures]
    except BaseException:
        running.stop_all()  # their waits return; their own errors are secondary to this one
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _LiveChildren:
    """The Lava workers running now, so that one failure can end the others (thread-safe)."""

    def __init__(self) -> None:
        self._lock, self._children, self.stopped = threading.Lock(), set(), False

    def add(self, child: subprocess.Popen) -> None:
        with self._lock:
            if self.stopped:  # started after the stop: end it at once
                _signal_group(child.pid, signal.SIGKILL)
            self._children.add(child)

    def discard(self, child: subprocess.Popen) -> None:
        with self._lock:
            self._children.discard(child)

    def stop_all(self) -> None:
        with self._lock:
            self.stopped, children = True, list(self._children)
        for child in children:
            _signal_group(child.pid, signal.SIGKILL)  # its thread's end_process_group reaps the group


def _run_chunk(job: LavaJob, remaining_s: float, timeout_s: float, running: _LiveChildren) -> dict[str, np.ndarray]:
    # Unnamed files (no path on disk): the kernel frees them with their last descriptor, whoever dies.
    with (
        tempfile.TemporaryFile() as job_file,
        tempfile.TemporaryFile() as result_file,
        tempfile.TemporaryFile() as error_file,
        tempfile.TemporaryFile() as log_file,
    ):
        pickle.dump(job, job_file)
        job_file.seek(0)
        rc = _run_worker(job_file, result_file, error_file, log_file, remaining_s, timeout_s, running)
        if rc != 0 or _size(result_file) == 0:
            detail = _read_text(error_file) or _without_shutdown_noise(_read_text(log_file))
            # A signal from outside enof (the watchdog's own stop raises above, before this): the worker's death by
            # it (rc −N), or its SIGTERM handler's exit after cleaning up (128 + 15, worker.py).
            number = -rc if rc < 0 else signal.SIGTERM if rc == 128 + signal.SIGTERM else None
            if number is not None:
                name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
                why = " (the kernel's out-of-memory killer sends SIGKILL)" if number == signal.SIGKILL else ""
                raise RunError(f"the Lava worker was ended by {name} from outside enof{why}"
                               + (f"; its last output: {_tail(detail)}" if detail.strip() else ""))
            raise RunError(f"Lava run failed (exit {rc}): {_tail(detail)}")
        result_file.seek(0)
        with np.load(result_file) as result:
            return {k: result[k] for k in result.files}


def _run_worker(
    job_file: BinaryIO, result_file: BinaryIO, error_file: BinaryIO, log_file: BinaryIO,
    remaining_s: float, timeout_s: float, running: _LiveChildren,
) -> int:
    """Run the worker in a new session and return its exit code; raise RunError on a timeout."""
    fds = (result_file.fileno(), error_file.fileno())
    child = subprocess.Popen(
        [sys.executable, "-m", "enof.runtime.lava.worker", str(os.getpid()), *map(str, fds)],
        stdin=job_file,
        stdout=log_file,
        stderr=log_file,
        pass_fds=fds,
        start_new_session=True,  # its own process group: every forked Lava process can be ended
    )
    running.add(child)
    try:
        return child.wait(timeout=remaining_s)
    except subprocess.TimeoutExpired:
        raise RunError(
            f"Lava run did not finish within {timeout_s:g} s (a hang inside Lava, or a timeout too short "
            "for this many samples); all its processes were ended"
        ) from None
    finally:
        end_process_group(child)
        running.discard(child)


@contextmanager
def sigterm_raises_run_error() -> Iterator[None]:
    """While in the block, SIGTERM raises TerminatedError (a RunError, exit 143) once, where it would have
    killed this process.

    Raised inside the run, it ends the worker's group and frees its files on the way out, and the
    CLI prints one line. Only over SIGTERM's default action, and only in the main thread, where
    Python runs signal handlers: a handler the application installed is left alone.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    if not in_main_thread or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminated(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the cleanup
        raise TerminatedError("Lava run stopped by SIGTERM; its processes were ended")

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _size(file: BinaryIO) -> int:
    return os.fstat(file.fileno()).st_size


def _read_text(file: BinaryIO) -> str:
    file.seek(0)
    return file.read().decode(errors="replace")


def end_process_group(child: subprocess.Popen) -> None:
    """End every process of the child's group: SIGTERM first (lets shared memory be released), then SIGKILL."""
    pgid = child.pid  # start_new_session: the child leads its own group
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + TERM_GRACE_S
        while _group_alive(pgid) and time.monotonic() < deadline:
            if child.poll() is None:
                try:
                    child.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(0.05)
        _signal_group(pgid, signal.SIGKILL)
    if child.poll() is None:
        child.wait()


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    return bool(live_processes_in_group(pgid))


def live_processes_in_group(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` that are not zombies (read from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            pids.append(int(entry))
    return pids


def _without_shutdown_noise(text: str) -> str:
    """The log without the warnings multiprocessing's resource_tracker prints when a process group ends (leaked
    shared memory of the killed Lava processes): they say nothing about why the run failed."""
    return "\n".join(line for line in text.splitlines()
                     if "resource_tracker" not in line and not line.strip().startswith("warnings.warn("))


def _tail(text: str) -> str:
    """The last lines of a traceback on one line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    tail = " | ".join(lines[-4:])
    return tail[-TRACEBACK_TAIL_CHARS:] if tail else "no output from the Lava worker"
