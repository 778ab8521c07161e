"""What a training run shows while it runs, and the per-epoch record it keeps.

On a terminal: one rich progress bar per phase. Otherwise (a batch job's log file, a pipe):
plain lines, flushed as they are written — one when a phase starts, one every `log_every`
steps or 30 s, whichever comes first, and one at every epoch's end. `MetricsLog` keeps
`metrics.jsonl`, one JSON object per finished epoch, rewritten atomically after each epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from enof.formats.atomic import atomic_write_text

PLAIN_INTERVAL_S = 30.0  # a batch job's log shows life at least this often


@dataclass
class StepReport:
    """Running figures of the current epoch (this process's share) for one progress update."""

    phase: str
    epoch: int  # 1-based, the epoch in progress
    epochs: int
    step: int  # steps done in this epoch
    steps: int
    loss: float
    train_accuracy: float
    lr: float
    images_per_s: float  # all processes together
    eta_s: float  # until the end of this phase


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class TrainProgress:
    """Progress of a run: rich bars on a terminal (`plain=False`), plain log lines otherwise."""

    def __init__(self, enabled: bool = True, console=None, plain: bool | None = None, log_every: int = 50) -> None:
        self.enabled, self.console = enabled, console
        self.plain = (console is None or not console.is_terminal) if plain is None else plain
        self.log_every = log_every
        self._bar = self._task = None
        self._last_line = 0.0

    def _line(self, text: str) -> None:
        if not self.enabled or self.console is None:
            return
        self.console.file.write(text + "\n")
        self.console.file.flush()

    def start(self, name: str, epochs: int, steps_per_epoch: int, start_epoch: int, about: str = "") -> None:
        self._last_line = time.monotonic()
        if self.plain:
            first = f"resuming at epoch {start_epoch + 1}" if start_epoch else "starting"
            self._line(f"[{name}] {first}: {epochs} epochs of {steps_per_epoch} steps{about}")
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description:>7}"), BarColumn(bar_width=20),
            TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}  loss {task.fields[loss]:.3f}  "
                       "train {task.fields[train_acc]:.1%}  test {task.fields[test_acc]}  {task.fields[speed]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, disable=not self.enabled,
        )
        self._bar.start()
        self._task = self._bar.add_task(name, total=epochs * steps_per_epoch, completed=start_epoch * steps_per_epoch,
                                        epoch=start_epoch, epochs=epochs, loss=0.0, train_acc=0.0, test_acc="-",
                                        speed="")

    def wants_update(self, step: int) -> bool:
        """Whether the running figures are due (reading them costs a device synchronization)."""
        if not self.plain:
            return step == 1 or step % 10 == 0
        return step == 1 or step % self.log_every == 0 or time.monotonic() - self._last_line >= PLAIN_INTERVAL_S

    def advance(self, report: StepReport | None) -> None:
        """One step done; `report` when `wants_update` said so."""
        if not self.plain:
            fields = {} if report is None else dict(loss=report.loss, train_acc=report.train_accuracy,
                                                    speed=f"{report.images_per_s:,.0f} img/s")
            self._bar.update(self._task, advance=1, **fields)
            return
        if report is None:
            return
        self._last_line = time.monotonic()
        self._line(f"[{report.phase}] epoch {report.epoch}/{report.epochs} step {report.step}/{report.steps} "
                   f"loss {report.loss:.4f} train {report.train_accuracy:.1%} lr {report.lr:.4g} "
                   f"{report.images_per_s:,.0f} img/s ETA {_duration(report.eta_s)}")

    def epoch_done(self, record: dict, eta_s: float) -> None:
        if not self.plain:
            self._bar.update(self._task, epoch=record["epoch"], test_acc=f"{record['test_accuracy']:.1%}")
            return
        self._last_line = time.monotonic()
        self._line(f"[{record['phase']}] epoch {record['epoch']}/{record['epochs']} done: loss {record['loss']:.4f} "
                   f"train {record['train_accuracy']:.1%} test {record['test_accuracy']:.1%} lr {record['lr']:.4g} "
                   f"{record['images_per_s']:,.0f} img/s, {record['epoch_s']:.1f} s; ETA {_duration(eta_s)}")

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = self._task = None


class MetricsLog:
    """`metrics.jsonl`: one object per finished epoch of every phase, in order; rewritten whole
    (atomically) after each epoch, so a crash never leaves half a line and a --resume continues it
    from the records its resume file kept."""

    def __init__(self, path: Path | None, records: list[dict] | None = None) -> None:
        self.path, self.records = path, list(records or [])

    def append(self, record: dict) -> None:
        self.records.append({**record, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        if self.path is not None:
            atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
