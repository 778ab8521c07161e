"""enof-compare on two run.json files that differ in a known number of predictions and counts (totals and per
step): the summary counts them and names the first differing step, --verbose lists them, --json holds the same
numbers, --tolerance forgives small count differences (never predictions), and the exit code says whether the
runs agree. Two built-in simulator runs of a real bundle on the same inputs agree step by step."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from enof.cli.compare_runs import app
import enof
from enof.formats.run_result import (CoreActivity, CoreSteps, HostCost, LayerActivity, RunResult, read_run_result,
                                     write_run_result)  # fmt: skip

TIMESTEPS, SAMPLES = 2, 12
LABELS = [i % 10 for i in range(SAMPLES)]
# Two layers of 10 neurons, each on two cores of 5: (layer, core id, spikes, synops) per core.
CORES = [("a", 0, 30, 1000), ("a", 1, 20, 800), ("b", 2, 10, 1000), ("b", 3, 5, 1000)]


def _run(predictions=LABELS, cores=CORES, precision="fixed", samples=SAMPLES, timesteps=TIMESTEPS) -> RunResult:
    """A run.json-consistent RunResult: layer totals are their cores' sums, accuracy is the predictions'."""
    steps, labels, predictions = timesteps * samples, LABELS[:samples], predictions[:samples]
    core_rows = [CoreActivity(core_id=i, layer=name, spikes=s, synops=y, neuron_updates=5 * steps)
                 for name, i, s, y in cores]  # fmt: skip
    layers = [LayerActivity(name=name, neurons=10, cores=2,
                            spikes=sum(c.spikes for c in core_rows if c.layer == name),
                            synops=sum(c.synops for c in core_rows if c.layer == name), neuron_updates=10 * steps)
              for name in ("a", "b")]  # fmt: skip
    accuracy = sum(p == t for p, t in zip(predictions, labels)) / samples
    return RunResult(bundle_manifest_sha256="ab" * 32, backend="fast", precision=precision, target="loihi2",
                     timesteps=timesteps, samples=samples, accuracy=accuracy, predictions=list(predictions),
                     labels=list(labels), layers=layers, cores=core_rows, host=HostCost(0, 0, 0, 0), wall_s=0.1,
                     per_step=[_first_step(c, timesteps) for c in core_rows])


def _first_step(core: CoreActivity, timesteps: int) -> CoreSteps:
    """A core's per-step counts with everything at step 0 (its maxima the totals; no messages)."""
    rest = [0] * (timesteps - 1)
    spikes, synops, none = [core.spikes, *rest], [core.synops, *rest], [0] * timesteps
    return CoreSteps(core.core_id, spikes, synops, none, none, spikes, synops, none, none)


# 3 predictions differ (the first at sample 1). Core 0 fires 2 more spikes (so layer a does too: 1 layer
# count, 1 core count); cores 2 and 3 trade 10 synops (layer b's sum stays: 2 core counts, no layer count).
# Per step, all at step 0: core 0's spikes and spikes_max, cores 2 and 3's synops and synops_max (6 counts).
DIFFERENT_PREDICTIONS = [(y + 1) % 10 if i in (1, 4, 7) else y for i, y in enumerate(LABELS)]
DIFFERENT_CORES = [("a", 0, 32, 1000), ("a", 1, 20, 800), ("b", 2, 10, 1010), ("b", 3, 5, 990)]


@pytest.fixture
def runs(tmp_path):
    """(same.json, other.json, differ.json, close.json): same is the reference itself, other its copy,
    differ the known differences above, close the same predictions with only the count differences."""
    paths = {}
    for name, run in (("same", _run()), ("other", _run()), ("differ", _run(DIFFERENT_PREDICTIONS, DIFFERENT_CORES)),
                      ("close", _run(cores=DIFFERENT_CORES, precision="float"))):
        paths[name] = write_run_result(run, tmp_path / f"{name}.json")
    return paths


def _compare(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_identical_runs_exit_0_and_say_what_was_compared(runs):
    result = _compare(runs["same"], runs["other"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ("same.json (fast, fixed) vs other.json (fast, fixed): identical — 12 predictions, 18 "
                             "spike/synop/update counts over 2 layers and 4 cores, 64 per-step counts; "
                             "accuracy 100.00% both\n")  # 64 = 4 cores × 2 steps × 8 per_step fields


def test_summary_counts_differing_predictions_layer_and_core_counts_without_listing_them(runs):
    result = _compare(runs["same"], runs["differ"])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "same.json (fast, fixed) vs differ.json (fast, fixed): DIFFER",
        "  predictions: 9 of 12 agree, 3 differ (first at sample 1); accuracy 100.00% vs 75.00%",
        "  layer counts: 1 of 6 differ (spikes 1) over 2 layers",
        "  core counts: 3 of 12 differ (spikes 1, synops 2) over 4 cores",
        "  per-step counts: 6 of 64 differ (spikes 1, synops 2, spikes_max 1, synops_max 2) over 4 cores × 2 steps; "
        "first at core 0 (a) step 0: spikes 30 vs 32",
        "  (every differing count: --verbose)",
    ]


def test_verbose_lists_every_differing_count_after_the_summary(runs):
    result = _compare(runs["same"], runs["differ"], "--verbose")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-10:] == [
        "    a: spikes 50 vs 52",
        "    core 0 (a): spikes 30 vs 32",
        "    core 2 (b): synops 1000 vs 1010",
        "    core 3 (b): synops 1000 vs 990",
        "    core 0 (a) step 0: spikes 30 vs 32",
        "    core 0 (a) step 0: spikes_max 30 vs 32",
        "    core 2 (b) step 0: synops 1000 vs 1010",
        "    core 2 (b) step 0: synops_max 1000 vs 1010",
        "    core 3 (b) step 0: synops 1000 vs 990",
        "    core 3 (b) step 0: synops_max 1000 vs 990",
    ]


def test_json_summary_holds_the_same_counts_and_the_list_only_with_verbose(runs):
    result = _compare(runs["same"], runs["differ"], "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert (report["identical"], report["same_bundle"], report["same_samples"], report["tolerance"]) == (False, True, True, 0.0)
    assert report["predictions"] == {"compared": 12, "differ": 3, "first_differing_sample": 1}
    assert report["layers"] == {"first": 2, "second": 2, "counts_compared": 6,
                                "differ": {"spikes": 1, "synops": 0, "neuron_updates": 0}}
    assert report["cores"] == {"first": 4, "second": 4, "counts_compared": 12,
                               "differ": {"spikes": 1, "synops": 2, "neuron_updates": 0}}
    assert report["second"] == {"path": str(runs["differ"]), "backend": "fast", "precision": "fixed", "samples": 12,
                                "accuracy": 0.75}
    first_step = {"where": "core 0 (a)", "step": 0, "field": "spikes", "first": 30, "second": 32}
    assert report["per_step"] == {"first": [4, 2], "second": [4, 2], "counts_compared": 64, "first_difference": first_step,
                                  "differ": {"spikes": 1, "synops": 2, "messages_out": 0, "messages_in": 0,
                                             "spikes_max": 1, "synops_max": 2, "messages_out_max": 0, "messages_in_max": 0}}  # fmt: skip
    assert "differences" not in report and "step_differences" not in report
    verbose = json.loads(_compare(runs["same"], runs["differ"], "--json", "--verbose").stdout)
    listed = verbose["differences"]
    assert listed[0] == {"where": "a", "field": "spikes", "first": 50, "second": 52} and len(listed) == 4
    assert verbose["step_differences"][0] == first_step and len(verbose["step_differences"]) == 6
    same = json.loads(_compare(runs["same"], runs["other"], "--json").stdout)
    assert same["identical"] is True and same["cores"]["differ"] == {"spikes": 0, "synops": 0, "neuron_updates": 0}


def test_tolerance_forgives_counts_within_the_relative_amount_but_never_predictions(runs):
    # The synops differ by 10 of 1,010 and of 1,000 (≤ 1%); the spikes by 2 of 52 and of 32 (3.8%, 6.2%).
    two_percent = json.loads(_compare(runs["same"], runs["differ"], "--json", "--tolerance", "0.02").stdout)
    assert two_percent["cores"]["differ"] == {"spikes": 1, "synops": 0, "neuron_updates": 0}
    assert two_percent["layers"]["differ"] == {"spikes": 1, "synops": 0, "neuron_updates": 0}
    assert {k: n for k, n in two_percent["per_step"]["differ"].items() if n} == {"spikes": 1, "spikes_max": 1}
    assert two_percent["predictions"]["differ"] == 3
    loose = _compare(runs["same"], runs["differ"], "--tolerance", "0.1")
    assert loose.exit_code == 1 and "predictions: 9 of 12 agree, 3 differ" in loose.stdout and "counts" not in loose.stdout
    close = _compare(runs["same"], runs["close"], "--tolerance", "0.1")
    assert close.exit_code == 0, close.output
    assert "close.json (fast, float): identical (counts within 0.1 relative) — 12 predictions" in close.stdout
    exact = _compare(runs["same"], runs["close"])  # exact by default: the counts differ, every prediction agrees
    assert exact.exit_code == 1 and exact.stdout.splitlines()[:3] == [
        "same.json (fast, fixed) vs close.json (fast, float): DIFFER",
        "  predictions: 12 of 12 agree; accuracy 100.00% vs 100.00%",  # said first (issue 27)
        "  layer counts: 1 of 6 differ (spikes 1) over 2 layers",
    ]


def test_runs_of_other_samples_or_bundles_are_said_so(runs, tmp_path):
    result = _compare(runs["same"], write_run_result(_run(samples=11), tmp_path / "fewer.json"))
    assert result.exit_code == 1
    assert "  the runs classified different samples (12 vs 11)" in result.stdout.splitlines()
    other = write_run_result(replace(_run(), bundle_manifest_sha256="cd" * 32), tmp_path / "foreign.json")
    result = _compare(runs["same"], other, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["same_bundle"] is False


@pytest.mark.parametrize("value, message", [
    ("-0.1", "error: --tolerance -0.1: must be ≥ 0"),
    ("nan", "error: --tolerance nan: must be a finite number"),
])  # fmt: skip
def test_a_bad_tolerance_is_a_one_line_error_exit_1(runs, value, message, one_line_error):
    one_line_error(_compare(runs["same"], runs["other"], "--tolerance", value), message)


def test_runs_of_different_timesteps_say_in_one_line_that_their_per_step_counts_are_not_compared(runs, tmp_path):
    result = _compare(runs["same"], write_run_result(_run(timesteps=3), tmp_path / "t3.json"))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "  per-step counts of 4 cores × 2 steps vs 4 cores × 3 steps (not compared)" in lines
    assert sum("per-step" in line for line in lines) == 1


@pytest.fixture(scope="module")
def two_fast_runs(digits_bundle, digits_test_set, tmp_path_factory):
    """(first, second): run.json of two built-in simulator runs of one digits bundle on the same 24 inputs."""
    bundle, _ = digits_bundle("loihi2")
    images, labels = digits_test_set
    folder = tmp_path_factory.mktemp("two_fast_runs")
    return tuple(enof.run(bundle, images[:24], labels=labels[:24], normalized=True, batch_size=batch).save(folder / name)
                 for name, batch in (("first.json", 24), ("second.json", 7)))  # fmt: skip


def test_two_fast_runs_of_one_bundle_on_the_same_inputs_are_identical_step_by_step(two_fast_runs):
    """Batches of 24 and of 7 (4 batches, the last of 3): the per-step sums add and the maxima combine to the same."""
    first, second = two_fast_runs
    run = read_run_result(first)
    per_step = len(run.cores) * run.timesteps * 8
    assert run.timesteps == 2 and len(run.cores) >= 2 and sum(sum(c.spikes) for c in run.per_step) > 0
    result = _compare(first, second)
    assert result.exit_code == 0, result.output
    assert f"cores, {per_step} per-step counts; accuracy" in result.stdout


def test_one_changed_per_step_count_is_named_by_core_layer_and_step(two_fast_runs, tmp_path):
    """One spikes_max at step 1 raised by one (still between sum / samples and the sum: a valid run.json): the
    totals agree, the per-step count does not, and the summary names that core, its layer and step 1."""
    first, _ = two_fast_runs
    run = read_run_result(first)
    i = max(i for i, c in enumerate(run.per_step) if c.spikes_max[1] < c.spikes[1])  # room to raise it by one
    core, steps = run.cores[i], run.per_step[i]
    changed = replace(steps, spikes_max=[steps.spikes_max[0], steps.spikes_max[1] + 1])
    edited = write_run_result(replace(run, per_step=[changed if j == i else s for j, s in enumerate(run.per_step)]),
                              tmp_path / "edited.json")  # fmt: skip
    result = _compare(first, edited)
    assert result.exit_code == 1, result.output
    where = f"core {core.core_id} ({core.layer}) step 1: spikes_max {steps.spikes_max[1]} vs {steps.spikes_max[1] + 1}"
    assert result.stdout.splitlines()[1:] == [
        f"  predictions: 24 of 24 agree; accuracy {run.accuracy:.2%} vs {run.accuracy:.2%}",
        f"  per-step counts: 1 of {len(run.cores) * 16} differ (spikes_max 1) over {len(run.cores)} cores × 2 steps; "
        f"first at {where}",
        "  (every differing count: --verbose)",
    ]
    assert _compare(first, edited, "--verbose").stdout.splitlines()[-1] == f"    {where}"
    report = json.loads(_compare(first, edited, "--json").stdout)["per_step"]
    assert report["first_difference"] == {"where": f"core {core.core_id} ({core.layer})", "step": 1,
                                          "field": "spikes_max", "first": steps.spikes_max[1],
                                          "second": steps.spikes_max[1] + 1}  # fmt: skip
