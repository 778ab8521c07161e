"""Child process of ``enof.runtime.lava.backend``: build a ChipProgram as Lava processes, run, write results.

Usage: ``python -m enof.runtime.lava.worker PARENT_PID RESULT_FD ERROR_FD``, a pickled LavaJob on stdin
(written by the parent); writes an npz to RESULT_FD and exits 0, or a traceback to ERROR_FD and exits 3.
The worker and every process Lava forks end when their parent does, however it ends (Linux's
PR_SET_PDEATHSIG). The parent passes unnamed temporary files; the worker's temporary folder
(multiprocessing's ``pymp-*``) goes on every way out but the worker's own SIGKILL.
The network is built by ``builder.LavaNetwork``.
"""

from __future__ import annotations

import multiprocessing.util
import os
import pickle
import shutil
import signal
import sys
import threading
import traceback
from typing import NoReturn

import numpy as np

import enof  # noqa: F401  (installs the Python 3.11 import fix before lava)
from enof.runtime.lava.backend import LavaJob
from enof.runtime.lava.builder import LavaNetwork
from enof.runtime.lava.lifetime import EXIT_PARENT_GONE, die_with_parent, forked_processes_die_with_their_forker
from enof.runtime.lava.watchdog import LavaModelError


def leave(scratch: str, exit_code: int) -> NoReturn:
    """End the worker now and remove its temporary folder; the processes it forked follow (SIGKILL)."""
    shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def main(argv: list[str]) -> NoReturn:
    parent_pid, result_fd, error_fd = (int(arg) for arg in argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # held until the folder and its handler exist
    if not die_with_parent(parent_pid, signal.SIGTERM):
        os._exit(EXIT_PARENT_GONE)
    # Made here before Lava forks, multiprocessing's folder (its shared-memory manager's socket) is
    # shared with every forked process and known to this one, which removes it.
    scratch = multiprocessing.util.get_temp_dir()

    def terminated(signum, frame) -> NoReturn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the cleanup
        leave(scratch, 128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    forked_processes_die_with_their_forker()
    job: LavaJob = pickle.load(sys.stdin.buffer)  # written by our own parent process
    failing = threading.Lock()

    def fail(error: str) -> NoReturn:
        # stop() would block forever after a model exception: exit now, the parent ends the group.
        with failing:  # the watcher thread and the main thread may both fail: the first one reports
            with open(error_fd, "w", closefd=False) as out:
                out.write(error)
            leave(scratch, 3)

    try:
        if job.netx_file is not None:
            from enof.runtime.netx.network import NetxNetwork  # lazy: lava-dl is optional, needed for --backend netx only

            network = NetxNetwork(job.program, job.source, job.netx_file)
        else:
            network = LavaNetwork(job.program, job.source, job.precision, job.fault)
        network.on_model_error = fail
        result = network.run()
    except LavaModelError as exc:
        fail(str(exc))
    except Exception:  # noqa: BLE001  (any failure becomes the parent's RunError)
        fail(traceback.format_exc())
    with open(result_fd, "wb", closefd=False) as out:
        np.savez(out, **result)
    leave(scratch, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
