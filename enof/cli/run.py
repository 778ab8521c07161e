"""enof-run: a bundle on the test split of its data set, on the built-in simulator or on Lava → run.json."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from enof.cli.console import command_app, make_console
from rich.table import Table

from enof.cli.output import exit_codes_epilog, fail
from enof.errors import EnofError

app = command_app()


class BackendChoice(str, Enum):
    fast = "fast"
    lava = "lava"
    netx = "netx"


class PrecisionChoice(str, Enum):
    fixed = "fixed"
    float = "float"


@app.command(epilog=exit_codes_epilog() + " SIGTERM: 143.")
def run(
    bundle: Path = typer.Argument(..., help="bundle folder written by enof-export"),
    backend: BackendChoice = typer.Option(BackendChoice.fast, "--backend", help="fast (built-in, bit-exact), lava, or netx (the bundle's chip.net.h5 through lava-dl's netx in Lava, fixed point)"),
    precision: PrecisionChoice = typer.Option(PrecisionChoice.fixed, "--precision", help="fixed (the chip's integers) or float"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="data set name (default: the one in the bundle)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder of the data set files (CIFAR, DVS)"),
    inputs_file: Optional[Path] = typer.Option(
        None, "--inputs", help="your own samples instead of a data set: FILE.npy (inputs) or FILE.npz (inputs, "
        "optional labels); float (N, C, H, W), or (N, T, C, H, W) for event input; raw scale unless --normalized"),
    normalized: bool = typer.Option(
        False, "--normalized", help="the --inputs values are already normalized (as the data set loaders give "
        "them); without it enof-run applies the manifest's dataset.normalization, (x − mean) / std"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="run only the first N test samples"),
    batch_size: str = typer.Option(
        "256", "--batch-size", help="samples per simulator batch, or auto (CUDA: from free GPU memory)"),
    device: str = typer.Option(
        "auto", "--device", help="built-in simulator: auto (a CUDA GPU if torch sees one, else cpu), cpu, cuda, cuda:N"),
    lava_workers: int = typer.Option(
        1, "--lava-workers", min=1, help="Lava backend: run each batch as N independent Lava runs at once"),
    timeout: float = typer.Option(600.0, "--timeout", help="seconds (> 0) before a Lava run is stopped as hung"),
    output: Path = typer.Option(
        Path("run.json"), "-o", "--output", help="where to write run.json (missing parent folders are created)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only the accuracy line (no activity table)"),
) -> None:
    """Classify the test split (or --inputs) with the bundle; print accuracy and per-layer activity; write run.json.

    Under torchrun --nproc_per_node N each process runs a contiguous 1/N of the samples and rank 0 writes one
    run.json, the same as a single process's."""
    from enof.cli.options import positive_finite
    from enof.formats.outputs import check_output_file, writing
    from enof.formats.run_result import write_run_result
    from enof.runtime.bundle import open_bundle
    from enof.runtime.distributed import Shard
    from enof.runtime.run import run_bundle

    try:
        shard = Shard.from_environment()
    except EnofError as exc:
        fail(exc)
    try:
        shard.start()
        problem = None
        try:  # checked on every rank; under torchrun one line in all: rank 0 reports whichever rank failed first
            positive_finite(timeout, "--timeout")
            batch = batch_size_option(batch_size)
            check_output_file(output, "-o", example="run.json")
            opened = open_bundle(bundle)
            name, inputs, labels, normalization = samples_to_run(opened, inputs_file, normalized, dataset, data_root, limit)
        except EnofError as exc:
            problem = exc
        shard.agree(problem)
        result = run_bundle(
            opened, inputs, labels, backend=backend.value, precision=precision.value,
            batch_size=batch, timeout_s=timeout, progress=not quiet, normalization=normalization, shard=shard,
            lava_workers=lava_workers, device=device,
        )  # fmt: skip
        if shard.is_main:
            with writing(output, "-o"):
                write_run_result(result, output)
    except EnofError as exc:
        if shard.is_main:
            fail(exc)
        raise typer.Exit(exc.exit_code) from None  # the other ranks end quietly with the same code
    finally:
        shard.stop()
    if not shard.is_main:  # rank 0 prints and writes the whole run
        return
    out = make_console()
    accuracy = "no labels, no accuracy" if result.accuracy is None else f"accuracy {result.accuracy:.2%}"
    out.print(
        f"{name}: {accuracy} on {result.samples} {'test ' if inputs_file is None else ''}samples "
        f"({backend.value}/{precision.value}, T = {result.timesteps}, {result.wall_s:.1f} s) → {output}"
    )
    if not quiet:
        out.print(activity_table(result))


def samples_to_run(opened, inputs_file: Path | None, normalized: bool, dataset: str | None, data_root, limit):
    """(name to print, inputs, labels or None, normalization or None): the --inputs file (memory-mapped where
    it is a .npy) or the test split of the data set, the first ``limit`` of them."""
    from enof.runtime.inputs import load_test_split, read_inputs_file

    if inputs_file is None:
        if normalized:
            raise EnofError("--normalized describes an --inputs file; the data sets are normalized by their loaders")
        name = dataset or opened.manifest.dataset_name
        return (name, *load_test_split(name, data_root, limit, opened), None)
    if dataset is not None or data_root is not None:
        raise EnofError("--inputs replaces --dataset and --data-root; give one or the other")
    given = read_inputs_file(inputs_file, opened, normalized)
    labels = None if given.labels is None else given.labels[:limit]
    return str(inputs_file), given.inputs[:limit], labels, given.normalization


def batch_size_option(text: str) -> int:
    """--batch-size: a whole number ≥ 1, or auto (0 to run_bundle)."""
    if text == "auto":
        return 0
    if not text.isdigit() or int(text) < 1:
        raise EnofError(f"--batch-size {text}: expected a whole number ≥ 1 or auto")
    return int(text)


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
