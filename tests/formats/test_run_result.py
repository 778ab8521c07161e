"""run.json: round trip through a file, and one-line errors for damaged or foreign files."""

import json
import re

import pytest

from enof.errors import RunResultError
from enof.formats.run_result import (
    CoreActivity,
    CoreSteps,
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
        # per step (T = 4): core 0 sends one message per spike to core 1; maxima over the 3 samples
        per_step=[CoreSteps(0, [150] * 4, [7500] * 4, [150] * 4, [0] * 4, [60] * 4, [2600] * 4, [60] * 4, [0] * 4),
                  CoreSteps(1, [160, 158, 158, 158], [6698, 6697, 6697, 6697], [0] * 4, [150] * 4,
                            [60, 53, 53, 53], [2300, 2233, 2233, 2300], [0] * 4, [60] * 4)],
    )  # fmt: skip
    values.update(overrides)
    return RunResult(**values)


def test_run_json_round_trips_every_field(tmp_path):
    result = _result()
    path = write_run_result(result, tmp_path / "out" / "run.json")
    assert read_run_result(path) == result
    data = json.loads(path.read_text())
    assert (data["format"], data["format_version"]) == ("enof-run", 2)
    assert data["per_step"][1]["synops"] == [6698, 6697, 6697, 6697]
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
    path.write_text(json.dumps({**data, "format_version": 3}))
    with pytest.raises(RunResultError, match=r"format_version 3 is not supported \(this enof reads 2; re-run with enof-run\)"):
        read_run_result(path)
    path.write_text(json.dumps({**data, "format_version": 1}))  # the format before per-step counts
    with pytest.raises(RunResultError, match=r"run.json: format_version 1 is not 2 \(a run from before the chip-time "
                       r"model, without per-step counts: re-run with enof-run\)$"):
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


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["per_step"][1]["synops"].__setitem__(0, 6699), "field 'per_step[1].synops' sums to 26790, but cores[1].synops is 26789"),
    (lambda d: d["per_step"][0]["spikes_max"].__setitem__(2, 151), "field 'per_step[0].spikes_max[2]' is 151, not between spikes[2] / samples and spikes[2] = 150"),
    (lambda d: d["per_step"][0]["spikes_max"].__setitem__(2, 49), "field 'per_step[0].spikes_max[2]' is 49, not between"),
    (lambda d: d["per_step"][1]["messages_in"].__setitem__(3, 149), "field 'per_step[*].messages_in[3]' sums to 149, but the cores sent 150 messages at step 3"),
    (lambda d: d["per_step"].reverse(), "field 'per_step[0].core_id' is 1, but cores[0] is core 0"),
    (lambda d: d["per_step"][0].__setitem__("synops", [7500] * 3), "field 'per_step[0].synops' has 3 entries, expected 4"),
])
def test_per_step_counts_that_do_not_add_up_are_refused_in_one_line(edit, message):
    from enof.formats.run_result import run_result_from_dict

    data = json.loads(json.dumps(_result().to_dict()))
    run_result_from_dict(data, "run.json")  # consistent as written
    edit(data)
    with pytest.raises(RunResultError, match=re.escape(f"run.json: {message}")):
        run_result_from_dict(data, "run.json")
