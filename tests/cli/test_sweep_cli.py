"""enof-sweep through typer's runner: a real 2-point digits sweep (tiny epochs and training subset: the
numbers are a chance-level network's, what is tested is that every step ran and was written), its resume,
and one-line errors before any file is written."""

import json
import statistics
import sys

import pytest
import torch
from typer.testing import CliRunner

from enof.cli.sweep import app
from enof.sweep import pareto_keys

runner = CliRunner()  # click 8.2: result.stdout and result.stderr apart
TINY = ["--dataset", "digits", "--arch", "digits_cnn", "--target", "loihi", "--timesteps", "1", "--repact", "on",
        "--epochs", "1", "--teacher-epochs", "1", "--finetune-epochs", "1", "--train-limit", "64"]


READS: dict[str, list] = {}  # the swept fixture's calls of the bundle and run.json readers


def _counting(patch: pytest.MonkeyPatch, real) -> None:
    """Record every call of ``real`` (by its first argument) in READS, wherever an enof module binds it."""
    calls = READS.setdefault(real.__name__, [])

    def counted(*args, **kwargs):
        calls.append(args[0] if args else None)
        return real(*args, **kwargs)

    for module in [m for m in sys.modules.values() if getattr(m, "__name__", "").startswith("enof")]:
        if getattr(module, real.__name__, None) is real:
            patch.setattr(module, real.__name__, counted)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    import enof.runtime.energy.inputs  # noqa: F401  (bound before counting: every module that holds the readers)
    from enof.formats.run_result import read_run_result
    from enof.runtime.bundle import open_bundle

    out = tmp_path_factory.mktemp("sweep") / "digits"
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        for real in (read_run_result, open_bundle):
            _counting(patch, real)
        result = runner.invoke(app, [*TINY, "--weight-bits", "8,4", "-o", str(out), "--json"])
    torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output + result.stderr
    return out, json.loads(result.stdout), result.stderr


def test_each_point_opens_its_bundle_once_and_never_reads_back_its_run_json(swept):
    """The sweep prices the run it holds on the bundle it opened: one open_bundle per point, no run.json read;
    the figures are what enof-energy gives from the files on disk, to the last bit."""
    from enof.runtime.energy.inputs import load_energy_inputs
    from enof.runtime.energy.report_model import priced_report

    out, report, _ = swept
    points = out / "seed0" / "points"
    assert sorted(READS["open_bundle"]) == sorted(points / key / "bundle" for key in report["points"])
    assert READS["read_run_result"] == []
    for key, point in report["points"].items():
        inputs, models, sources = load_energy_inputs(points / key / "run.json")
        headline = priced_report(inputs, models, sources).headline
        assert (point["chip_pj"], point["host_pj"], point["total_pj"]) == (headline.chip_pj, headline.host_pj, headline.total_pj)


def test_two_points_write_the_table_the_json_and_the_plot(swept):
    out, report, _ = swept
    keys = ["T1-w8-repact-on", "T1-w4-repact-on"]
    assert list(report["points"]) == keys
    table = (out / "sweep.md").read_text().splitlines()
    assert sum(line.startswith("| 1 | ") for line in table) == 2  # one row a point, under the header
    stored = json.loads((out / "sweep.json").read_text())
    assert [(p["timesteps"], p["weight_bits"], p["repact"]) for p in stored["points"]] == [(1, 8, True), (1, 4, True)]
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for key, point in report["points"].items():
        run = json.loads((out / "seed0" / "points" / key / "run.json").read_text())
        assert point["fixed_accuracy"] == run["accuracy"] and point["test_samples"] == 360  # digits' test split
        assert 0.0 <= point["float_accuracy"] <= 1.0 and point["cores"] >= 1 and point["chips"] == 1
        assert point["chip_pj"] > 0 and point["host_pj"] > 0
        assert point["total_pj"] == pytest.approx(point["chip_pj"] + point["host_pj"], rel=1e-12)  # float sum only
        assert json.loads((out / "seed0" / "points" / key / "bundle" / "manifest.json").read_text())["target"]["name"] == "loihi"
    assert [k for k, p in zip(keys, stored["points"]) if p["pareto"]] == report["pareto"] == pareto_keys(report["points"])


def test_pareto_front_keeps_the_points_nothing_beats():
    def point(accuracy, total_pj):
        return {"fixed_accuracy": accuracy, "total_pj": total_pj}

    points = {"cheap": point(0.90, 100.0), "best": point(0.98, 300.0), "beaten": point(0.95, 400.0),
              "tie-dearer": point(0.90, 150.0), "middle": point(0.95, 200.0), "twin": point(0.95, 200.0)}
    assert pareto_keys(points) == ["cheap", "best", "middle", "twin"]  # equal twins beat neither


def test_rerun_skips_finished_points_and_reuses_the_model(swept):
    out, report, _ = swept
    model = out / "seed0" / "models" / "T1-repact-on.pt"
    trained_ns = model.stat().st_mtime_ns
    results_before = json.loads((out / "seed0" / "results.json").read_text())["points"]
    result = runner.invoke(app, [*TINY, "--weight-bits", "8,6,4", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "seed 0 T1-w8-repact-on skipped" in result.stderr and "seed 0 T1-w4-repact-on skipped" in result.stderr
    assert "seed 0 T1-w6-repact-on done" in result.stderr and "seed 0 T1-w6-repact-on skipped" not in result.stderr
    rerun = json.loads(result.stdout)["runs"]["0"]
    assert list(rerun) == ["T1-w8-repact-on", "T1-w6-repact-on", "T1-w4-repact-on"]  # the order asked for
    assert rerun["T1-w8-repact-on"] == results_before["T1-w8-repact-on"]  # kept, not measured again
    assert model.stat().st_mtime_ns == trained_ns  # not trained again
    assert sum(line.startswith("| 1 | ") for line in (out / "sweep.md").read_text().splitlines()) == 3


def test_a_second_seed_adds_its_runs_and_the_table_gives_mean_and_std(swept):
    out, _, _ = swept
    result = runner.invoke(app, [*TINY, "--weight-bits", "8", "--seeds", "0,1", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "seed 0 T1-w8-repact-on skipped" in result.stderr and "seed 1 T1-w8-repact-on done" in result.stderr
    report = json.loads(result.stdout)
    runs = [report["runs"][s]["T1-w8-repact-on"] for s in ("0", "1")]
    point = report["points"]["T1-w8-repact-on"]
    fixed = [r["fixed_accuracy"] for r in runs]
    assert point["seeds"] == 2 and point["fixed_accuracy"] == pytest.approx(statistics.fmean(fixed), abs=1e-15)
    assert point["fixed_accuracy_std"] == pytest.approx(statistics.stdev(fixed), abs=1e-15)
    assert point["cores"] == max(r["cores"] for r in runs)
    assert (out / "seed1" / "models" / "T1-repact-on.teacher.pt").is_file()  # each seed its own teacher
    row = next(line for line in (out / "sweep.md").read_text().splitlines() if line.startswith("| 1 | 8 | on |"))
    assert f"{100 * point['fixed_accuracy']:.2f} ± {100 * point['fixed_accuracy_std']:.2f}" in row


def test_rerun_with_other_settings_is_refused(swept):
    out, _, _ = swept
    args = [*TINY, "--weight-bits", "8", "-o", str(out)]
    args[args.index("--finetune-epochs") + 1] = "2"
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0
    assert "made with other settings: finetune_epochs 1 (now 2)" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--arch", "nonet"], "--arch nonet: unknown architecture"),
    (["--weight-bits", "9"], "--weight-bits 9: the loihi profile's synapses take 2 to 8 weight bits"),
    (["--weight-bits", "8,1"], "--weight-bits 1: the loihi profile's synapses take 2 to 8 weight bits"),
    (["--weight-bits", ""], "--weight-bits '': an empty list"),
    (["--timesteps", ","], "--timesteps ',': an empty list"),
    (["--repact", "maybe"], "--repact 'maybe': each value is on or off"),
    (["--timesteps", "0"], "--timesteps 0: T must be from 1 to 16777216"),
    (["--timesteps", "2,16777217"], "--timesteps 16777217: T must be from 1 to 16777216 (float32 counts T spikes"),
    (["--seeds", "a"], "--seeds 'a': not a comma-separated list of integers"),
    (["--seeds", "-1"], "--seeds -1: a seed is a whole number from 0 to 4294967295"),
    (["--seeds", str(2**70)], f"--seeds {2**70}: a seed is a whole number from 0 to 4294967295"),
    (["--dataset", "cifar10", "--arch", "resnet20"], "cifar10: needs --data-root, the folder holding its files"),
    (["--dataset", "nmnist", "--data-root", "/no/such/folder"], "nmnist: --data-root /no/such/folder is not a folder"),
    (["--plugin", "./no_such_plugin.py"], "--plugin ./no_such_plugin.py: no such .py file"),
    (["--frame-size", "8by8"], "--frame-size 8by8: expected N (square frames) or HxW"),
])  # fmt: skip
def test_bad_input_is_one_line_exit_1_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "sweep"
    result = runner.invoke(app, [*TINY, *args, "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not out.exists()


def test_an_output_that_is_a_file_is_one_line_exit_1(tmp_path):
    out = tmp_path / "sweep"
    out.write_text("not a folder")
    result = runner.invoke(app, [*TINY, "--weight-bits", "8", "-o", str(out)])
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0
    assert f"-o {out}: a file, not a folder" in result.stderr and out.read_text() == "not a folder"
