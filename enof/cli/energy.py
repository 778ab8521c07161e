"""enof-energy: what one inference of the network costs on the chip, where it goes, and the ANN beside it."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from enof.formats.atomic import atomic_write_text
from enof.errors import EnofError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class RoutingMode(str, Enum):
    geometric = "geometric"
    all_cores = "all-cores"


@app.command()
def energy(
    run_json: Path = typer.Argument(..., help="run.json written by enof-run"),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="bundle folder (default: recorded in or beside run.json)"),
    profile: Optional[str] = typer.Option(None, "--profile", help="profile name or TOML path (default: the bundle's)"),
    fmt: Format = typer.Option(Format.table, "--format", help="table, json or csv"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="write a PNG of the per-layer breakdown and firing rates"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="write the report here instead of stdout"),
    timestep_us: Optional[float] = typer.Option(None, "--timestep-us", help="wall time of one timestep (prices static power)"),
    routing: RoutingMode = typer.Option(RoutingMode.geometric, "--routing", help="geometric, or all-cores (upper bound)"),
    model: Optional[str] = typer.Option(None, "--model", help="cost model of the breakdown tables and plot"),
) -> None:
    """Price one inference of a run under every cost model of the profile, with the ANN baseline."""
    from enof.runtime.energy import compute_energy
    from enof.runtime.energy_inputs import load_energy_inputs
    from enof.runtime.energy_report import main_model, report_csv, report_dict, report_tables, report_text

    try:
        if timestep_us is not None and not timestep_us > 0:
            raise EnofError(f"--timestep-us must be > 0, got {timestep_us}")
        inputs, models, sources = load_energy_inputs(run_json, bundle, profile)
        result = compute_energy(inputs, models, routing=routing.value, timestep_us=timestep_us)
        report = report_dict(result, sources)
        if model is not None:
            try:
                main_model(report, model)
            except KeyError:
                names = ", ".join(m["name"] for m in report["models"])
                raise EnofError(f"--model {model}: not a cost model of {sources.profile_path} ({names})") from None
        if fmt is Format.json:
            text = json.dumps(report, indent=2) + "\n"
        elif fmt is Format.csv:
            text = report_csv(report)
        else:
            text = report_text(report, main=model) if output is not None else None
        if plot is not None:
            from enof.runtime.energy_plot import plot_report

            _writing(plot, lambda: plot_report(report, plot, model))
        if output is not None:
            _writing(output, lambda: atomic_write_text(output, text))
    except EnofError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None

    if output is None and text is not None:
        sys.stdout.write(text)
    elif output is None:
        from enof.cli.console import make_console

        make_console().print(report_tables(report, model))


def _writing(path: Path, write) -> None:
    try:
        write()
    except OSError as exc:
        raise EnofError(f"{path}: cannot write ({exc.strerror or exc})") from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
