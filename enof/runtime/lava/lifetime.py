"""The Lava worker's lifetime bound to its parent's (Linux): whatever ends the parent, SIGKILL
included, ends the worker, and whatever ends the worker ends the processes Lava forked from it."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_PARENT_GONE = 4


def die_with_parent(parent_pid: int, signum: int) -> bool:
    """Have Linux send ``signum`` to this process when its parent exits; False if ``parent_pid`` already has.

    The parent may die before the request is made (the worker imports Lava first): then it is no
    longer our parent, and getppid() names whoever adopted us.
    """
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    return os.getppid() == parent_pid


def forked_processes_die_with_their_forker() -> None:
    """From now on, every process forked here (Lava's actors, its shared-memory manager) gets SIGKILL
    when the process that forked it ends, and SIGTERM's default action back (it ends them at once)."""
    forker = {"pid": os.getpid()}

    def in_child() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not die_with_parent(forker["pid"], signal.SIGKILL):
            os._exit(EXIT_PARENT_GONE)

    os.register_at_fork(before=lambda: forker.update(pid=os.getpid()), after_in_child=in_child)
