"""Output for scripts on a digits bundle made by the real export chain: enof-export --json holds what was
written (read back from the bundle), and --quiet leaves one line where enof-export, enof-run and
enof-energy otherwise print tables."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from enof.cli import energy, export, run
from enof.formats.bundle import read_bundle
from enof.formats.placement import read_placement


@pytest.fixture(scope="module")
def checkpoint(digits_bundle):
    bundle, _ = digits_bundle("loihi2")
    return bundle.parent / "model.pt"


def test_export_json_is_the_one_object_on_stdout_and_holds_what_was_written(checkpoint, tmp_path):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(export.app, [str(checkpoint), "--target", "loihi", "--calibrate", "8", "-o", str(out),
                                             "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)  # nothing else on stdout: no tables
    bundle = read_bundle(out)
    placement = read_placement(bundle.path("placement.json"))
    assert (written["bundle"], written["checkpoint"], written["target"]) == (str(out), str(checkpoint), "loihi")
    assert (written["timesteps"], written["dataset"], written["input_mode"]) == (2, "digits", bundle.manifest.input_mode)
    assert written["manifest_sha256"] == bundle.manifest_sha256
    assert {name: f["sha256"] for name, f in written["files"].items()} == bundle.manifest.files
    assert all(f["bytes"] == (out / name).stat().st_size for name, f in written["files"].items())
    assert (written["chips"], written["cores"]) == (placement.chips, len(placement.cores))
    assert [layer["name"] for layer in written["layers"]] == [layer.name for layer in placement.layers]
    assert [layer["cores"] for layer in written["layers"]] == [layer.cores for layer in placement.layers]
    assert written["partition"]["chip"] == [p.node for p in bundle.manifest.partition if p.where == "chip"]
    assert written["calibration_samples"] == 8


def test_export_quiet_prints_only_where_the_bundle_went(checkpoint, tmp_path):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(export.app, [str(checkpoint), "--target", "loihi", "--calibrate", "0", "-o", str(out),
                                             "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == f"bundle written to {out}\n"
    assert read_bundle(out).manifest.target.name == "loihi"


@pytest.fixture(scope="module")
def run_json(digits_bundle, tmp_path_factory):
    """enof-run --quiet on 6 digits: (its result, the run.json it wrote)."""
    bundle, _ = digits_bundle("loihi2")
    path = tmp_path_factory.mktemp("quiet-run") / "run.json"
    return CliRunner().invoke(run.app, [str(bundle), "--limit", "6", "-o", str(path), "--quiet"]), path


def test_run_quiet_prints_the_accuracy_line_and_no_activity_table(run_json):
    result, path = run_json
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("digits: accuracy ") and lines[0].endswith(f"→ {path}"), lines
    assert "chip activity" not in result.output


def test_energy_quiet_prints_the_total_in_one_line_instead_of_the_tables(run_json):
    _, path = run_json
    report = json.loads(CliRunner().invoke(energy.app, [str(path), "--format", "json"]).stdout)
    result = CliRunner().invoke(energy.app, [str(path), "--quiet", "--model", "davies2018_proxy"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("davies2018_proxy: ") and "per inference" in lines[0], lines
    from enof.runtime.energy.report import format_energy

    totals = next(m for m in report["models"] if m["name"] == "davies2018_proxy")["totals"]
    assert lines[0].startswith(f"davies2018_proxy: {format_energy(totals['total_pj'])} per inference (chip ")
    assert "Per layer" not in result.stdout and "Totals per inference" not in result.stdout
