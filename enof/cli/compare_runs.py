"""enof-compare: do two runs of one bundle agree? (predictions, every spike/synop/update count, every per-step count)

Used by `make demo` to show that the Lava fixed_pt run and the built-in simulator agree bit for bit.
Prints a summary (how many predictions, per-layer / per-core counts and per-core per-step counts differ, and the
first differing step); --verbose lists every differing count, --json prints the same as one JSON object.
Exit 0 when identical (counts within --tolerance), 1 when they differ or on bad input, 2 on a usage error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer

from enof.cli.console import command_app
from enof.cli.options import non_negative_finite
from enof.cli.output import ERROR_LINE, EXIT_FAILED, exit_codes_epilog, fail, print_json
from enof.errors import EnofError
from enof.formats.run_result import STEP_FIELDS, read_run_result

app = command_app()

COUNTS = ("spikes", "synops", "neuron_updates")
STEP_COUNTS = (*STEP_FIELDS, *(f"{field}_max" for field in STEP_FIELDS))  # per_step's lists (docs/run-json.md)


@dataclass(frozen=True)
class CountDifference:
    """One count that differs beyond the tolerance: `where` is a layer name or "core N (layer)"."""

    where: str
    field: str
    first: int
    second: int

    def line(self) -> str:
        return f"{self.where}: {self.field} {self.first} vs {self.second}"


@dataclass(frozen=True)
class CountSummary:
    """How the per-layer (or per-core) counts of two runs compare."""

    kind: str  # "layer" | "core"
    first: int  # layers (cores) in the first run
    second: int
    differ: dict[str, int]  # count field -> layers (cores) where it differs; empty when first != second

    @property
    def compared(self) -> int:
        """Counts compared: every field of every layer (core); none when the runs have different numbers."""
        return self.first * len(COUNTS) if self.first == self.second else 0

    @property
    def agree(self) -> bool:
        return self.first == self.second and not any(self.differ.values())

    def to_dict(self) -> dict:
        return {"first": self.first, "second": self.second, "counts_compared": self.compared, "differ": self.differ}


@dataclass(frozen=True)
class StepDifference:
    """One per-step count that differs beyond the tolerance: `where` is "core N (layer)", `step` t of a sample."""

    where: str
    step: int
    field: str
    first: int
    second: int

    def line(self) -> str:
        return f"{self.where} step {self.step}: {self.field} {self.first} vs {self.second}"


@dataclass(frozen=True)
class StepSummary:
    """How the per-core, per-step counts of two runs compare; `first` and `second` are (cores, timesteps)."""

    first: tuple[int, int]
    second: tuple[int, int]
    differ: dict[str, int]  # per_step field -> (core, step) entries where it differs; empty when the shapes differ
    first_difference: StepDifference | None

    @property
    def compared(self) -> int:
        """Counts compared: every field at every step of every core; none when the shapes differ."""
        return self.first[0] * self.first[1] * len(STEP_COUNTS) if self.first == self.second else 0

    @property
    def agree(self) -> bool:
        return self.first == self.second and not any(self.differ.values())

    def shape_line(self) -> str:
        """The line that says the shapes differ."""
        (c1, t1), (c2, t2) = self.first, self.second
        return f"per-step counts of {c1} cores × {t1} steps vs {c2} cores × {t2} steps (not compared)"

    def to_dict(self) -> dict:
        first = None if self.first_difference is None else vars(self.first_difference)
        return {"first": list(self.first), "second": list(self.second), "counts_compared": self.compared,
                "differ": self.differ, "first_difference": first}  # fmt: skip


@dataclass(frozen=True)
class RunComparison:
    """Two RunResults side by side; the counts are None when the runs classified different samples."""

    same_bundle: bool
    same_samples: bool
    predictions_differ: int
    first_differing_sample: int | None
    layers: CountSummary | None
    cores: CountSummary | None
    differences: tuple[CountDifference, ...]
    steps: StepSummary | None = None
    step_differences: tuple[StepDifference, ...] = ()

    @property
    def identical(self) -> bool:
        return (self.same_bundle and self.same_samples and self.predictions_differ == 0
                and self.layers.agree and self.cores.agree and self.steps.agree)  # fmt: skip


def counts_equal(x: int, y: int, tolerance: float) -> bool:
    """x and y differ by at most `tolerance` of the larger (0: exactly equal)."""
    return abs(x - y) <= tolerance * max(abs(x), abs(y))


def compare_runs(a, b, tolerance: float = 0.0) -> RunComparison:
    """Compare two RunResults of the same bundle and samples: predictions exactly, counts within `tolerance`."""
    same_bundle = a.bundle_manifest_sha256 == b.bundle_manifest_sha256
    if a.labels != b.labels:
        return RunComparison(same_bundle, False, 0, None, None, None, ())
    wrong = [i for i, (p, q) in enumerate(zip(a.predictions, b.predictions)) if p != q]
    differences: list[CountDifference] = []
    summaries = []
    for kind, xs, ys in (("layer", a.layers, b.layers), ("core", a.cores, b.cores)):
        differ = {}
        if len(xs) == len(ys):
            differ = dict.fromkeys(COUNTS, 0)
            for x, y in zip(xs, ys):
                for field in COUNTS:
                    first, second = getattr(x, field), getattr(y, field)
                    if not counts_equal(first, second, tolerance):
                        differ[field] += 1
                        where = x.name if kind == "layer" else f"core {x.core_id} ({x.layer})"
                        differences.append(CountDifference(where, field, first, second))
        summaries.append(CountSummary(kind, len(xs), len(ys), differ))
    steps, step_differences = compare_steps(a, b, tolerance)
    return RunComparison(same_bundle, True, len(wrong), wrong[0] if wrong else None, *summaries, tuple(differences),
                         steps, step_differences)  # fmt: skip


def compare_steps(a, b, tolerance: float = 0.0) -> tuple[StepSummary, tuple[StepDifference, ...]]:
    """Compare two runs' per_step counts entry by entry within `tolerance` (counts_equal's rule); the differences
    in the order core, step, field."""
    first, second = _step_array(a), _step_array(b)  # (cores, timesteps, fields)
    shape = (len(a.per_step), a.timesteps), (len(b.per_step), b.timesteps)
    if first.shape != second.shape:
        return StepSummary(*shape, {}, None), ()
    larger = np.maximum(np.abs(first), np.abs(second))
    differ = (first != second) & ~(np.abs(first - second) <= tolerance * larger)  # exact when tolerance is 0
    differences = tuple(
        StepDifference(f"core {a.cores[c].core_id} ({a.cores[c].layer})", int(t), STEP_COUNTS[f],
                       int(first[c, t, f]), int(second[c, t, f]))
        for c, t, f in np.argwhere(differ)
    )  # fmt: skip
    counts = {field: int(n) for field, n in zip(STEP_COUNTS, differ.sum(axis=(0, 1)))}
    return StepSummary(*shape, counts, differences[0] if differences else None), differences


def _step_array(run) -> np.ndarray:
    """The run's per_step counts as one int64 array (cores, timesteps, fields in STEP_COUNTS' order)."""
    rows = [[getattr(core, field) for field in STEP_COUNTS] for core in run.per_step]
    return np.asarray(rows, np.int64).reshape(len(rows), len(STEP_COUNTS), run.timesteps).transpose(0, 2, 1)


def summary_lines(a, b, comparison: RunComparison, tolerance: float) -> list[str]:
    """The summary of a comparison that is not identical: how many predictions agree first, then one line per
    way the counts differ."""
    lines = []
    if not comparison.same_bundle:
        lines.append("the runs come from different bundles (manifest sha256 differs)")
    if not comparison.same_samples:
        lines.append(f"the runs classified different samples ({a.samples} vs {b.samples})")
        return lines
    agree = a.samples - comparison.predictions_differ
    differ = (f", {comparison.predictions_differ:,} differ (first at sample {comparison.first_differing_sample})"
              if comparison.predictions_differ else "")
    lines.append(f"predictions: {agree:,} of {a.samples:,} agree{differ}; accuracy {_accuracy(a)} vs {_accuracy(b)}")
    beyond = f" by more than {tolerance:g} relative" if tolerance else ""
    for counts in (comparison.layers, comparison.cores):
        if counts.first != counts.second:
            lines.append(f"{counts.first} vs {counts.second} {counts.kind}s (their counts are not compared)")
        elif not counts.agree:
            by_field = ", ".join(f"{field} {n:,}" for field, n in counts.differ.items() if n)
            total = sum(counts.differ.values())
            lines.append(f"{counts.kind} counts: {total:,} of {counts.compared:,} differ{beyond} ({by_field}) "
                         f"over {counts.first:,} {counts.kind}s")
    steps = comparison.steps
    if steps.first != steps.second:
        lines.append(steps.shape_line())
    elif not steps.agree:
        by_field = ", ".join(f"{field} {n:,}" for field, n in steps.differ.items() if n)
        lines.append(f"per-step counts: {sum(steps.differ.values()):,} of {steps.compared:,} differ{beyond} "
                     f"({by_field}) over {steps.first[0]:,} cores × {steps.first[1]:,} steps; "
                     f"first at {steps.first_difference.line()}")  # fmt: skip
    return lines


def comparison_dict(paths, runs, comparison: RunComparison, tolerance: float, verbose: bool) -> dict:
    """The --json object: both runs, whether they are identical, the counts that differ (and with
    `verbose`, every differing count)."""
    report = {
        "first": _run_dict(paths[0], runs[0]), "second": _run_dict(paths[1], runs[1]),
        "identical": comparison.identical, "tolerance": tolerance,
        "same_bundle": comparison.same_bundle, "same_samples": comparison.same_samples,
        "predictions": None, "layers": None, "cores": None, "per_step": None,
    }  # fmt: skip
    if comparison.same_samples:
        report["predictions"] = {"compared": runs[0].samples, "differ": comparison.predictions_differ,
                                 "first_differing_sample": comparison.first_differing_sample}
        report["layers"], report["cores"] = comparison.layers.to_dict(), comparison.cores.to_dict()
        report["per_step"] = comparison.steps.to_dict()
    if verbose:
        report["differences"] = [vars(d) for d in comparison.differences]
        report["step_differences"] = [vars(d) for d in comparison.step_differences]
    return report


def _accuracy(run) -> str:
    return "n/a (no labels)" if run.accuracy is None else f"{run.accuracy:.2%}"


def _run_dict(path: Path, run) -> dict:
    return {"path": str(path), "backend": run.backend, "precision": run.precision, "samples": run.samples,
            "accuracy": run.accuracy}


@app.command(epilog=exit_codes_epilog("the runs agree", f"they differ (the summary says how) or invalid input ({ERROR_LINE})"))
def compare(
    first: Path = typer.Argument(..., help="run.json"),
    second: Path = typer.Argument(..., help="run.json of the same bundle and samples"),
    tolerance: float = typer.Option(
        0.0, "--tolerance", metavar="REL",
        help="counts that differ by at most REL of the larger count are equal, e.g. 0.01 for two float runs "
        "(0: exactly equal); predictions are always compared exactly",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="also list every differing count"),
    json_output: bool = typer.Option(False, "--json", help="print the summary (with --verbose, the list) as JSON"),
) -> None:
    """Check that two runs agree: the bundle, the samples, every prediction, every spike, synop and
    neuron-update count per layer and per core, and every per-step count per core. Prints how many differ."""
    try:
        non_negative_finite(tolerance, "--tolerance")
        a, b = read_run_result(first), read_run_result(second)
    except EnofError as exc:
        fail(exc)
    comparison = compare_runs(a, b, tolerance)
    if json_output:
        print_json(comparison_dict((first, second), (a, b), comparison, tolerance, verbose))
    else:
        _print_comparison(first, second, a, b, comparison, tolerance, verbose)
    if not comparison.identical:
        raise typer.Exit(EXIT_FAILED)


def _print_comparison(first: Path, second: Path, a, b, comparison: RunComparison, tolerance: float,
                      verbose: bool) -> None:
    label = f"{first.name} ({a.backend}, {a.precision}) vs {second.name} ({b.backend}, {b.precision})"
    if comparison.identical:
        n_counts = comparison.layers.compared + comparison.cores.compared
        within = f" (counts within {tolerance:g} relative)" if tolerance else ""
        typer.echo(
            f"{label}: identical{within} — {a.samples} predictions, {n_counts} "
            f"spike/synop/update counts over {len(a.layers)} layers and {len(a.cores)} cores, "
            f"{comparison.steps.compared} per-step counts; accuracy {_accuracy(a)} both"
        )
        return
    typer.echo(f"{label}: DIFFER")
    for line in summary_lines(a, b, comparison, tolerance):
        typer.echo(f"  {line}")
    if verbose:
        for difference in (*comparison.differences, *comparison.step_differences):
            typer.echo(f"    {difference.line()}")
    elif comparison.differences or comparison.step_differences:
        typer.echo("  (every differing count: --verbose)")


def main() -> None:
    app(prog_name="enof-compare")


if __name__ == "__main__":
    main()
