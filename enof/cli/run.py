"""enof-run: a bundle on the test split of its data set, on the built-in simulator or on Lava → run.json."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from enof.cli.console import make_console
from rich.table import Table

from enof.cli.output import exit_codes_epilog, fail
from enof.errors import EnofError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class BackendChoice(str, Enum):
    fast = "fast"
    lava = "lava"


class PrecisionChoice(str, Enum):
    fixed = "fixed"
    float = "float"


@app.command(epilog=exit_codes_epilog())
def run(
    bundle: Path = typer.Argument(..., help="bundle folder written by enof-export"),
    backend: BackendChoice = typer.Option(BackendChoice.fast, "--backend", help="fast (built-in, bit-exact) or lava"),
    precision: PrecisionChoice = typer.Option(PrecisionChoice.fixed, "--precision", help="fixed (the chip's integers) or float"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="data set name (default: the one in the bundle)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of the data set files (CIFAR, DVS)"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="run only the first N test samples"),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="samples per simulator batch"),
    timeout: float = typer.Option(600.0, "--timeout", help="seconds (> 0) before a Lava run is stopped as hung"),
    output: Path = typer.Option(
        Path("run.json"), "-o", "--output", help="where to write run.json (missing parent folders are created)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the accuracy line (no activity table)"),
) -> None:
    """Classify the test split with the bundle; print accuracy and per-layer activity; write run.json."""
    from enof.cli.options import positive_finite
    from enof.formats.outputs import check_output_file, writing
    from enof.formats.run_result import write_run_result
    from enof.runtime.bundle import open_bundle
    from enof.runtime.run import run_bundle

    try:
        positive_finite(timeout, "--timeout")
        check_output_file(output, "-o", example="run.json")
        opened = open_bundle(bundle)
        name = dataset or opened.manifest.dataset_name
        inputs, labels = load_test_split(name, data_root, limit, opened)
        result = run_bundle(
            opened, inputs, labels, backend=backend.value, precision=precision.value,
            batch_size=batch_size, timeout_s=timeout, progress=not quiet,
        )  # fmt: skip
        with writing(output, "-o"):
            write_run_result(result, output)
    except EnofError as exc:
        fail(exc)
    out = make_console()
    out.print(
        f"{name}: accuracy {result.accuracy:.2%} on {result.samples} test samples "
        f"({backend.value}/{precision.value}, T = {result.timesteps}, {result.wall_s:.1f} s) → {output}"
    )
    if not quiet:
        out.print(activity_table(result))


def load_test_split(name: str, data_root, limit: int | None, bundle) -> tuple[np.ndarray, np.ndarray]:
    """The test split of data set ``name`` for the opened bundle, as its loader normalizes it: images
    (N, C, H, W), or event frames (N, T, C, H, W) binned at the bundle's T; labels (N,) int64."""
    from enof.datasets import load_dataset
    from enof.errors import RunError
    from enof.formats.bundle import MANIFEST_NAME

    loaded = load_dataset(name, data_root, train_augment=False, timesteps=bundle.manifest.timesteps)
    if loaded.spec.temporal != bundle.program.input_temporal:
        takes = "event input (dataset.temporal)" if bundle.program.input_temporal else "static images"
        raise RunError(
            f"{bundle.root / MANIFEST_NAME}: the bundle takes {takes}, but {name} is "
            f"{'an event' if loaded.spec.temporal else 'a static'} data set; run it on a data set like the one it was trained on"
        )
    test = loaded.test
    count = len(test) if limit is None else min(limit, len(test))
    xs, ys = [], []
    for i in range(count):
        x, y = test[i]
        xs.append(np.asarray(x, dtype=np.float32))
        ys.append(int(y))
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def activity_table(result) -> Table:
    """Per chip layer: neurons, cores, spikes/sample, firing rate (spikes per neuron per step), synops/sample."""
    table = Table(title="chip activity per layer (per sample)")
    for column in ("layer", "neurons", "cores", "spikes/sample", "firing rate", "synops/sample"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    samples, steps = result.samples, result.timesteps
    for layer in result.layers:
        rate = layer.spikes / (layer.neurons * steps * samples)
        table.add_row(
            layer.name, f"{layer.neurons:,}", str(layer.cores), f"{layer.spikes / samples:,.1f}",
            f"{rate:.3f}", f"{layer.synops / samples:,.0f}",
        )  # fmt: skip
    total_spikes = sum(layer.spikes for layer in result.layers) / samples
    total_synops = sum(layer.synops for layer in result.layers) / samples
    table.add_row("total", f"{sum(l.neurons for l in result.layers):,}", str(sum(l.cores for l in result.layers)),
                  f"{total_spikes:,.1f}", "", f"{total_synops:,.0f}", style="bold")  # fmt: skip
    return table


def main() -> None:
    app(prog_name="enof-run")


if __name__ == "__main__":
    sys.exit(main())
