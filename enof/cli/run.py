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
from enof.formats.outputs import check_output_file, writing
from enof.formats.run_result import write_run_result

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
        "them); without it enof-run applies the manifest's dataset.normalization, (x − mean) / std, where it has one"),
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
    # lazy: a run loads NIR, ONNX and torch; --help and option errors answer without them
    from enof.run_request import FLAGS, RunRequest, run_request
    from enof.runtime.bundle import open_bundle
    from enof.runtime.distributed import Shard

    try:
        shard = Shard.from_environment()
    except EnofError as exc:
        fail(exc)
    try:
        shard.start()
        problem = None
        try:  # checked on every rank; under torchrun one line in all: rank 0 reports whichever rank failed first
            request = RunRequest(backend.value, precision.value, batch_size, device, timeout, lava_workers, limit, dataset,
                                 data_root, normalized, progress=not quiet).checked(FLAGS)  # enof.run's checks too
            check_output_file(output, "-o", example="run.json")
            opened = open_bundle(bundle)
            samples = _samples(opened, request, inputs_file)
        except EnofError as exc:
            problem = exc
        shard.agree(problem)
        result = run_request(opened, samples, request, shard)
        if shard.is_main:
            with writing(output, "-o"):
                write_run_result(result.record, output)
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
        f"{samples.name}: {accuracy} on {result.samples} {'test ' if samples.test_split else ''}samples "
        f"({backend.value}/{precision.value}, T = {result.record.timesteps}, {result.record.wall_s:.1f} s) → {output}"
    )
    if not quiet:
        out.print(activity_table(result))


def _samples(opened, request, inputs_file: Path | None):
    """The --inputs file's arrays (a .npy memory-mapped, not copied) or the test split, through enof.run's checks."""
    # lazy: a run loads NIR, ONNX and torch; --help and option errors answer without them
    from enof.run_request import FLAGS, choose_samples
    from enof.runtime.inputs import read_inputs_file

    if inputs_file is None:
        return choose_samples(opened, request, FLAGS)
    given, where = read_inputs_file(inputs_file), f"--inputs {inputs_file}"
    return choose_samples(opened, request, FLAGS, given.inputs, given.labels, (where, where), str(inputs_file))


def activity_table(result) -> Table:
    """Per chip layer (enof.results.RunResult; the user's name beside a renamed one): neurons, cores,
    spikes/sample, firing rate (spikes per neuron per step), synops/sample."""
    table = Table(title="chip activity per layer (per sample)")
    for column in ("layer", "neurons", "cores", "spikes/sample", "firing rate", "synops/sample"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    samples, steps = result.samples, result.record.timesteps
    for layer in result.layers:
        rate = layer.spikes / (layer.neurons * steps * samples)
        table.add_row(
            result.shown_name(layer.name), f"{layer.neurons:,}", str(layer.cores), f"{layer.spikes / samples:,.1f}",
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
