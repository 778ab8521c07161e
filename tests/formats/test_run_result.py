"""run.json: round trip through a file, and one-line errors for damaged or foreign files."""

import json

import pytest

from enof.errors import RunResultError
from enof.formats.run_result import (
    CoreActivity,
    HostCost,
    LayerActivity,
    RunResult,
    read_run_result,
    write_run_result,
)


def _result(**overrides):
    values = dict(
        bundle_manifest_sha256="ab" * 32, backend="fast", precision="fixed", target="loihi", timesteps=4,
        samples=3, accuracy=2 / 3, predictions=[1, 0, 2], labels=[1, 0, 1],
        layers=[LayerActivity("backbone.2", 2048, 2, 1234, 56789, 2048 * 12)],
        cores=[CoreActivity(0, "backbone.2", 600, 30000, 1024 * 12), CoreActivity(1, "backbone.2", 634, 26789, 1024 * 12)],
        host=HostCost(host_in_macs=0, host_out_macs=650, bytes_host_to_chip=256, bytes_chip_to_host=128),
        wall_s=0.25,
    )  # fmt: skip
    values.update(overrides)
    return RunResult(**values)


def test_run_json_round_trips_every_field(tmp_path):
    result = _result()
    path = write_run_result(result, tmp_path / "out" / "run.json")
    assert read_run_result(path) == result
    data = json.loads(path.read_text())
    assert (data["format"], data["format_version"]) == ("enof-run", 1)
    assert data["layers"][0]["synops"] == 56789 and data["host"]["host_out_macs"] == 650
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left behind


def test_truncated_run_json_is_a_one_line_error(tmp_path):
    path = write_run_result(_result(), tmp_path / "run.json")
    path.write_text(path.read_text()[:200])
    with pytest.raises(RunResultError, match=r"run.json: not valid JSON \(truncated\?\)") as info:
        read_run_result(path)
    assert "\n" not in str(info.value)


def test_unknown_format_version_and_foreign_json_are_refused(tmp_path):
    path = tmp_path / "run.json"
    data = _result().to_dict()
    path.write_text(json.dumps({**data, "format_version": 2}))
    with pytest.raises(RunResultError, match=r"format_version 2 is not supported \(this enof reads 1\)"):
        read_run_result(path)
    path.write_text(json.dumps({"format": "enof-bundle"}))
    with pytest.raises(RunResultError, match="not an enof run.json"):
        read_run_result(path)
    del data["host"]
    path.write_text(json.dumps(data))
    with pytest.raises(RunResultError, match=r"run\.json: field 'host' missing$"):
        read_run_result(path)


def test_inconsistent_sample_counts_are_refused():
    with pytest.raises(ValueError, match="3 samples but 2 predictions and 3 labels"):
        _result(predictions=[1, 0])
