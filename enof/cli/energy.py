"""enof-energy: what one inference of the network costs on the chip, where it goes, and the ANN beside it."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from enof.cli.console import command_app, make_console
from enof.cli.output import exit_codes_epilog, fail
from enof.errors import EnofError
from enof.formats.atomic import atomic_write_text
from enof.formats.outputs import check_output_file, writing

if TYPE_CHECKING:
    from enof.runtime.energy.report_model import Report

app = command_app()


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class RoutingMode(str, Enum):
    geometric = "geometric"
    all_cores = "all-cores"


@app.command(epilog=exit_codes_epilog())
def energy(
    run_json: Path = typer.Argument(..., help="run.json written by enof-run"),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="bundle folder (default: recorded in or beside run.json)"),
    profile: Optional[str] = typer.Option(None, "--profile", help="profile name or TOML path (default: the bundle's)"),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="write a PNG of the per-layer breakdown and firing rates (missing parent folders are created)"
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="write the report here instead of stdout (missing parent folders are created)"
    ),
    timestep_us: Optional[float] = typer.Option(
        None, "--timestep-us", help="wall time of one timestep in µs, > 0: the time is then given, not modeled (for a board you measured); default: the profile's [timing] model"
    ),
    routing: RoutingMode = typer.Option(RoutingMode.geometric, "--routing", help="geometric, or all-cores (upper bound)"),
    model: Optional[str] = typer.Option(None, "--model", help="cost model of the breakdown tables and plot"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="instead of the tables, one line: the total per "
                               "inference under --model (default: the model that prices the most chip parts)"),
) -> None:
    """Price one inference of a run under every cost model of the profile, with the ANN baseline."""
    # lazy: the energy model reads the bundle (NIR, ONNX); --help answers without them
    from enof.api import energy_report
    from enof.spelling import FLAGS
    from enof.runtime.energy.report import report_tables
    from enof.runtime.energy.report_csv import report_csv

    try:
        priced = energy_report(run_json, model=model, bundle=bundle, profile=profile, routing=routing.value,
                               timestep_us=timestep_us, names=FLAGS, before_reading=lambda: _check_outputs(output, plot))
        if fmt is Format.json:
            text = json.dumps(priced.to_dict(), indent=2) + "\n"
        elif fmt is Format.csv:
            text = report_csv(priced.report)
        else:
            text = priced.text() if output is not None else None
        if plot is not None:
            # lazy: matplotlib, only when a plot is drawn
            from enof.runtime.energy.plot import plot_report

            with writing(plot, "--plot"):
                plot_report(priced.report, plot, model)
        if output is not None:
            with writing(output, "-o"):
                atomic_write_text(output, text)
    except EnofError as exc:
        fail(exc)

    if output is None and text is not None:
        sys.stdout.write(text)
    elif output is None and quiet:
        typer.echo(total_line(priced.report, model))
    elif output is None:
        make_console().print(report_tables(priced.report, model))


def total_line(report: Report, model: str | None) -> str:
    """--quiet's one line: the chosen cost model's total, chip and host energy per inference."""
    # lazy: the energy model reads the bundle (NIR, ONNX); --help answers without them
    from enof.runtime.energy.report import format_energy
    from enof.runtime.energy.time_report import format_time

    chosen, time = report.model(model), report.time
    timing = "" if time is None else (f"; {format_time(time.latency_s)} alone, {time.inferences_per_s:,.0f} "
                                      f"inferences/s, EDP {report.edp_js(chosen):.3g} J·s")
    return (f"{chosen.model.name}: {format_energy(chosen.total_pj)} per inference (chip "
            f"{format_energy(chosen.chip_pj)}, host {format_energy(chosen.priced_host_pj)}{timing}; "
            f"T = {report.result.timesteps}, {report.result.samples} samples of {report.sources.run_path})")


def _check_outputs(output: Path | None, plot: Path | None) -> None:
    """Both outputs writable, and not one file (the plot would overwrite the report), before any pricing."""
    if output is not None:
        check_output_file(output, "-o", example="energy.txt")
    if plot is not None:
        check_output_file(plot, "--plot", example="energy.png")
    if output is not None and plot is not None and output.absolute() == plot.absolute():
        raise EnofError(f"-o {output} and --plot {plot}: the same file; give the report and the plot two names")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
