"""How far a run is and how long it has left, on stderr: a rich bar on a terminal, plain lines otherwise.

A Lava run of a large network can go minutes between two finished batches, so the remaining time is also told
between them: from the samples done when there are some, else from the estimate made before the run (Lava's
measured speed, ``enof.runtime.lava.estimate``). Off a terminal (a batch log, CI) one plain line at least every
``LINE_EVERY_S`` seconds and one at the end.
"""

from __future__ import annotations

import threading
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

LINE_EVERY_S = 30.0  # off a terminal: the longest silence between two progress lines


def clock(seconds: float | None) -> str:
    """0:07:05 for 425 s; "-:--:--" when unknown."""
    if seconds is None:
        return "-:--:--"
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class RunProgress:
    """``with RunProgress(label, total, estimate_s, console) as progress: progress.advance(n)``; ``console`` None
    (or ``enabled`` False): silent. ``line_every_s`` is the plain lines' period (tests shorten it)."""

    def __init__(self, label: str, total: int, estimate_s: float | None = None, console=None, enabled: bool = True,
                 line_every_s: float = LINE_EVERY_S) -> None:  # fmt: skip
        self.label, self.total, self.estimate_s = label, total, estimate_s
        self.console = console if enabled else None
        self.line_every_s = line_every_s
        self.done, self.started = 0, time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Progress | None = None

    def remaining_s(self) -> float | None:
        """Seconds left: the rate so far once a sample is done, else what the estimate leaves; None if unknown."""
        elapsed = time.monotonic() - self.started
        if self.done >= self.total:
            return 0.0
        if self.done:
            return elapsed / self.done * (self.total - self.done)
        if self.estimate_s is not None:
            return max(self.estimate_s - elapsed, 0.0)
        return None

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        guess = " (estimate)" if self.done == 0 and self.estimate_s is not None else ""
        return (f"{self.label} {self.done}/{self.total} samples, {clock(elapsed)} elapsed, "
                f"{clock(self.remaining_s())} left{guess}")

    def __enter__(self) -> "RunProgress":
        if self.console is None:
            return self
        if self.console.is_terminal:
            self._bar = Progress(TextColumn(f"[bold]{self.label}[/bold]"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("samples {task.fields[left]}"), console=self.console, transient=False)  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total, left=self._left())
        self._thread = threading.Thread(target=self._tell, daemon=True)
        self._thread.start()
        return self

    def advance(self, samples: int) -> None:
        self.done += samples
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, left=self._left())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.__exit__(*exc)
        elif self.console is not None and exc[0] is None:
            self._print(self.line())

    def _left(self) -> str:
        return f"{clock(self.remaining_s())} left"

    def _tell(self) -> None:
        """Refresh the bar's time left every second; off a terminal a line every ``line_every_s``."""
        period = 1.0 if self._bar is not None else self.line_every_s
        while not self._stop.wait(period):
            if self._bar is not None:
                self._bar.update(self._task, left=self._left())
            else:
                self._print(self.line())

    def _print(self, text: str) -> None:
        self.console.file.write(text + "\n")
        self.console.file.flush()
