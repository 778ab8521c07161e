"""enof-sweep: accuracy against energy per inference over T, weight bits and RepAct (enof/sweep.py does the work)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from enof.cli.options import PLUGIN_HELP, frame_size_option
from enof.cli.console import command_app, make_console
from enof.cli.output import exit_codes_epilog, fail, print_json
from enof.errors import EnofError

app = command_app()


def int_list(text: str, flag: str) -> tuple[int, ...]:
    """Parse "1,2,4" into (1, 2, 4), duplicates dropped; an empty list or a non-integer is an EnofError naming ``flag``."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise EnofError(f"{flag} {text!r}: an empty list; give comma-separated values such as 8,6,4")
    try:
        return tuple(dict.fromkeys(int(s) for s in items))
    except ValueError:
        raise EnofError(f"{flag} {text!r}: not a comma-separated list of integers") from None


def repact_list(text: str) -> tuple[bool, ...]:
    """Parse "on,off" into (True, False)."""
    items = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not items:
        raise EnofError(f"--repact {text!r}: an empty list; give on, off or on,off")
    if any(s not in ("on", "off") for s in items):
        raise EnofError(f"--repact {text!r}: each value is on or off")
    return tuple(dict.fromkeys(s == "on" for s in items))


@app.command(epilog=exit_codes_epilog())
def sweep(
    dataset: str = typer.Option("digits", "--dataset", help="data set to train and test on (any enof-train takes)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder holding the data set (not for digits)"),
    arch: str = typer.Option("digits_cnn", "--arch", help="architecture (enof-train --arch)"),
    target: str = typer.Option("loihi", "--target", help="loihi, loihi2 or a profile TOML path"),
    timesteps: str = typer.Option("1,2,4", "--timesteps", "-T", help="comma-separated T values"),
    weight_bits: str = typer.Option("8,6,4", "--weight-bits", help="comma-separated weight bits the target takes"),
    repact: str = typer.Option("on,off", "--repact", help="on, off or on,off"),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="sweep folder (default runs/sweep-<dataset>); "
                                       "finished points in it are kept and skipped"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="SNN training epochs (default: the recipe's)"),
    teacher_epochs: Optional[int] = typer.Option(None, "--teacher-epochs", help="ANN teacher epochs (default: the recipe's)"),
    finetune_epochs: int = typer.Option(3, "--finetune-epochs", help="quantization-aware fine-tuning epochs"),
    train_limit: Optional[int] = typer.Option(None, "--train-limit", help="train on a stratified subset of N samples"),
    seeds: str = typer.Option("0", "--seeds", help="comma-separated seeds; the table gives mean ± std over them"),
    as_json: bool = typer.Option(False, "--json", help="print the points and the written files as one JSON object"),
    device: str = typer.Option("auto", "--device", help="training, fine-tuning and the built-in simulator: auto "
                               "(CUDA when torch sees a GPU), cpu, cuda or cuda:N"),
    frame_size: Optional[str] = typer.Option(None, "--frame-size", help="event data sets: bin the recordings into "
                                             "HxW frames, the size the architecture takes (as enof-train)"),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Train, fine-tune, export, run and price every (T, weight bits, RepAct) point; write sweep.md/.json/.png."""
    # lazy: the sweep trains, exports and runs (torch, ONNX, NIR); --help and option errors answer without them
    from enof.sweep import SweepConfig, pareto_keys, run_sweep, summarize
    from enof.sweep_report import write_outputs
    from enof.trainer.models import load_plugins

    try:
        load_plugins(plugin)
        hw = frame_size_option(frame_size)
        config = SweepConfig(
            out=str(out if out is not None else Path("runs") / f"sweep-{dataset}"), dataset=dataset, arch=arch,
            target=target, timesteps=int_list(timesteps, "--timesteps"),
            weight_bits=int_list(weight_bits, "--weight-bits"), repact=repact_list(repact), epochs=epochs,
            teacher_epochs=teacher_epochs, finetune_epochs=finetune_epochs, train_limit=train_limit,
            seeds=int_list(seeds, "--seeds"), data_root=None if data_root is None else str(data_root), device=device,
            frame_size=None if hw is None else tuple(hw),
        )  # fmt: skip
        config.check()
        _use_recipe_threads(config)
        with SweepProgress(len(config.points()) * len(config.seeds)) as progress:
            runs = run_sweep(config, progress.report)
        paths = write_outputs(config, runs, Path(config.out))
        points = summarize(runs)
    except EnofError as exc:
        fail(exc)
    if as_json:
        print_json({"out": config.out, "files": {k: str(p) for k, p in paths.items()},
                    "pareto": pareto_keys(points), "points": points, "runs": {str(s): r for s, r in runs.items()}})
    else:
        typer.echo(f"{len(points)} points; written: {', '.join(str(p) for p in paths.values())}")


def _use_recipe_threads(config) -> None:
    """The data set's recipe thread count (digits: 1, its net too small for threads to pay), as enof-train does."""
    import torch  # lazy: as run_sweep's imports above

    from enof.trainer.config import TrainConfig

    threads = TrainConfig(dataset=config.dataset, arch=config.arch).resolved().threads
    if threads:
        torch.set_num_threads(threads)


class SweepProgress:
    """A rich bar over the points on a terminal; otherwise one plain line per point started, skipped or done."""

    def __init__(self, total: int) -> None:
        self.console, self.total, self.done = make_console(stderr=True), total, 0
        self.bar = self.task = None

    def __enter__(self) -> "SweepProgress":
        if self.console.is_terminal:
            self.bar = Progress(TextColumn("sweep {task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=self.console)
            self.bar.__enter__()
            self.task = self.bar.add_task("", total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def report(self, label: str, what: str) -> None:
        if what != "start":
            self.done += 1
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, description=label)
            return
        self.console.file.write(f"sweep {self.done}/{self.total}: {label} {what}\n")
        self.console.file.flush()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
