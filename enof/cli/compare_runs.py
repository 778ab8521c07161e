"""enof-compare: do two runs of one bundle agree exactly? (predictions and every spike/synop/update count)

Used by `make demo` to show that the Lava fixed_pt run and the built-in simulator agree bit for bit.
Exit 0 when identical, 1 when they differ (the differences are listed), 2 on bad input.
"""

from __future__ import annotations

from pathlib import Path

import typer

from enof.errors import EnofError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

COUNTS = ("spikes", "synops", "neuron_updates")


def run_differences(a, b) -> list[str]:
    """Every way two RunResults of the same bundle and samples differ, as readable lines (empty: identical)."""
    diffs = []
    if a.bundle_manifest_sha256 != b.bundle_manifest_sha256:
        diffs.append("the runs come from different bundles (manifest sha256 differs)")
    if a.labels != b.labels:
        diffs.append(f"the runs classified different samples ({a.samples} vs {b.samples})")
        return diffs
    wrong = [i for i, (p, q) in enumerate(zip(a.predictions, b.predictions)) if p != q]
    if wrong:
        diffs.append(f"{len(wrong)} of {a.samples} predictions differ (first at sample {wrong[0]})")
    for kind, xs, ys in (("layer", a.layers, b.layers), ("core", a.cores, b.cores)):
        if len(xs) != len(ys):
            diffs.append(f"{len(xs)} vs {len(ys)} {kind}s")
            continue
        for x, y in zip(xs, ys):
            for field in COUNTS:
                if getattr(x, field) != getattr(y, field):
                    where = x.name if kind == "layer" else f"core {x.core_id} ({x.layer})"
                    diffs.append(f"{where}: {field} {getattr(x, field)} vs {getattr(y, field)}")
    return diffs


@app.command()
def compare(
    first: Path = typer.Argument(..., help="run.json"),
    second: Path = typer.Argument(..., help="run.json of the same bundle and samples"),
) -> None:
    """Check that two runs agree exactly: predictions and every per-layer and per-core count."""
    from enof.formats.run_result import read_run_result

    try:
        a, b = read_run_result(first), read_run_result(second)
    except EnofError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    diffs = run_differences(a, b)
    label = f"{first.name} ({a.backend}, {a.precision}) vs {second.name} ({b.backend}, {b.precision})"
    if diffs:
        typer.echo(f"{label}: DIFFER")
        for line in diffs:
            typer.echo(f"  {line}")
        raise typer.Exit(1)
    n_counts = (len(a.layers) + len(a.cores)) * len(COUNTS)
    typer.echo(
        f"{label}: identical — {a.samples} predictions, {n_counts} spike/synop/update counts "
        f"over {len(a.layers)} layers and {len(a.cores)} cores; accuracy {a.accuracy:.2%} both"
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
