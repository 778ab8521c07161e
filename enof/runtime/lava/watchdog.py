"""Inside the worker: notice a Lava ProcessModel's exception or a dead Lava process while ``run()`` blocks."""

from __future__ import annotations

import threading


class LavaModelError(Exception):
    """An exception raised inside a Lava ProcessModel (its traceback is the message)."""


class ActorWatcher(threading.Thread):
    """Polls the forked Lava processes for an exception or a death while run() blocks.

    After an exception in a ProcessModel, lava's runtime joins every actor, and the actors that
    wait on the failed one's channels never end: run() blocks forever instead of raising; a killed
    actor (out of memory, a signal) blocks it silently. This thread reports the first traceback an
    actor sent, or the first actor that died with a non-zero exit code, to ``on_error``.
    """

    def __init__(self, actors, on_error, poll_s: float = 0.05):
        super().__init__(daemon=True, name="enof-lava-actor-watcher")
        self._actors, self._on_error, self._poll_s = list(actors), on_error, poll_s
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._poll_s):
            for actor in self._actors:
                try:
                    exception = actor._exception if actor._is_done else actor.exception
                    exit_code = None if actor._is_done else actor.exitcode
                except (OSError, EOFError, ValueError):  # the runtime closed this actor's pipe meanwhile
                    continue
                if self._stopped.is_set():
                    return
                if exception:
                    self._on_error(exception[1])
                    return
                if exit_code:  # negative: the signal that ended it
                    self._on_error(f"Lava process {actor.name} died with exit code {exit_code} and no exception")
                    return

    def stop(self) -> None:
        self._stopped.set()


def model_exceptions(process) -> str:
    """Tracebacks that the forked Lava processes reported (run() only says 'N Exception(s) occurred')."""
    runtime = process.runtime
    actors = getattr(getattr(runtime, "_messaging_infrastructure", None), "actors", [])
    found = []
    for actor in actors:
        exception = actor.exception
        if exception:
            found.append(exception[1])
    return "\n".join(found)
