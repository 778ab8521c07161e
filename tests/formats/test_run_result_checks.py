"""run.json from a real run of an exported bundle, edited: each field's type and range and the counts'
consistency (read_run_result), then the run against its bundle (what enof-energy reads), one line each."""

import json

import pytest

from enof.errors import RunResultError
from enof.formats.run_result import read_run_result, run_result_from_dict
from enof.runtime.energy.inputs import load_energy_inputs


def _write(tmp_path, data, bundle):
    if isinstance(data, dict):
        data["bundle"] = str(bundle)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data) if isinstance(data, dict) else data)
    return path


@pytest.mark.parametrize(
    "edit, tail",
    [
        (lambda d: d["host"].update(host_out_macs=-650), "field 'host.host_out_macs' is -650, outside [0, 9223372036854775807] (a 64-bit count)"),
        (lambda d: d["host"].update(host_out_macs=650.5), "field 'host.host_out_macs' must be an integer, got number 650.5"),
        (lambda d: d["host"].update(bytes_host_to_chip=None), "field 'host.bytes_host_to_chip' must be an integer, got null None"),
        (lambda d: d.update(timesteps=0), "field 'timesteps' is 0, outside [1, 16777216] (float32 counts T spikes exactly only up to 2^24)"),
        (lambda d: d.update(samples=5), "field 'predictions' has 4 entries, expected 5"),
        (lambda d: d.update(accuracy=1.5), "field 'accuracy' is 1.5, outside [0.0, 1.0]"),
        (lambda d: d.update(accuracy=1.0 if d["accuracy"] < 1 else 0.0), "of the predictions equal the labels"),
        (lambda d: d["predictions"].__setitem__(0, -1), "field 'predictions[0]' is -1, outside [0, 9223372036854775807] (a class index)"),
        (lambda d: d.update(backend="gpu"), "field 'backend' is 'gpu', not one of fast, lava, netx"),
        (lambda d: d.update(bundle_manifest_sha256="12"), "field 'bundle_manifest_sha256' must be a sha256 (64 lowercase hex digits), got string '12'"),
        (lambda d: d.update(wall_s=-1), "field 'wall_s' is -1, outside [0.0, inf]"),
        (lambda d: d["layers"][0].update(neuron_updates=d["layers"][0]["neuron_updates"] + 1),
         "field 'layers[0].neuron_updates' is 4097, but neurons · timesteps · samples = 4096"),
        (lambda d: d["layers"][0].update(spikes=10**6), "field 'layers[0].spikes' is 1000000, more than its 4096 neuron updates (one spike per neuron and step at most)"),
        (lambda d: (d["cores"][0].update(spikes=0), d["layers"][0].update(spikes=1)), "field 'layers[0].spikes' is 1, but its cores sum to 0"),
        (lambda d: d["cores"][1].update(core_id=0), "field 'cores[1].core_id' is 0 a second time"),
        (lambda d: d["cores"][1].update(layer="act9"), "field 'cores[1].layer' is 'act9', not one of the layers in 'layers'"),
        (lambda d: d.update(layers=[d["layers"][0], d["layers"][0]]), "field 'layers[1].name' is 'act1' a second time"),
        (lambda d: d.update(layers={}), "field 'layers' must be an array, got object {}"),
    ],
)  # fmt: skip
def test_a_wrong_run_json_field_is_one_line(digits_run, tmp_path, refused, edit, tail):
    bundle, data = digits_run("loihi2")
    edit(data)
    path = _write(tmp_path, data, bundle)
    refused(lambda: read_run_result(path), RunResultError, tail)
    assert str(path) in refused(lambda: read_run_result(path), RunResultError, tail)


def test_hostile_run_json_is_one_line(digits_run, tmp_path, refused):
    bundle, data = digits_run("loihi2")
    path = _write(tmp_path, "[" * 100_000 + "]" * 100_000, bundle)
    refused(lambda: read_run_result(path), RunResultError, "run.json: JSON nested too deeply to parse (a damaged or hostile file)")
    path.write_text(json.dumps(data).replace('"wall_s": ', '"wall_s": NaN, "x": '))
    refused(lambda: read_run_result(path), RunResultError, "run.json: not valid JSON (NaN is not a JSON number)")
    with pytest.raises(RunResultError, match=r"^r: field 'host.host_out_macs' must be an integer, got number nan$"):
        run_result_from_dict({**data, "host": {**data["host"], "host_out_macs": float("nan")}}, "r")


def _rescaled(data: dict, timesteps: int) -> dict:
    """The same run as if made with another T: neuron updates rescaled so that run.json is consistent by itself."""
    for row in (*data["layers"], *data["cores"]):
        row["neuron_updates"] = row["neuron_updates"] // data["timesteps"] * timesteps
    for row in data["per_step"]:  # every step's counts moved to step 0, their maxima the totals themselves
        for key, values in row.items():
            if key != "core_id":
                row[key] = [sum(row[key.removesuffix("_max")])] + [0] * (timesteps - 1)
    data["timesteps"] = timesteps
    return data


@pytest.mark.parametrize(
    "edit, tail",
    [
        (lambda d: _rescaled(d, 4), "field 'timesteps' is 4, but the bundle runs T = 2"),
        (lambda d: d["host"].update(host_out_macs=1), "field 'host.host_out_macs' is 1, but the bundle gives 73888"),
        (lambda d: d["host"].update(bytes_chip_to_host=1), "field 'host.bytes_chip_to_host' is 1, but the bundle gives 64"),
        (lambda d: d.update(target="loihi"), "field 'target' is 'loihi', but the bundle is for 'loihi2'"),
        (lambda d: d.update(predictions=[10] * 4, accuracy=0.0), "field 'predictions[0]' is 10, outside [0, 9] (the bundle's 10 classes)"),
        (lambda d: [row.update(name="x") for row in d["layers"][:1]] and [c.update(layer="x") for c in d["cores"] if c["core_id"] == 0],
         "field 'layers' names x, act2, but the bundle's chip layers are act1, act2"),
    ],
)  # fmt: skip
def test_a_run_that_does_not_fit_its_bundle_is_refused_by_enof_energy(digits_run, tmp_path, refused, edit, tail):
    bundle, data = digits_run("loihi2")
    edit(data)
    path = _write(tmp_path, data, bundle)
    read_run_result(path)  # consistent by itself
    message = refused(lambda: load_energy_inputs(path), RunResultError, tail)
    assert message.startswith(f"{path}: ")


def test_the_unedited_run_is_priced(digits_run, tmp_path):
    bundle, data = digits_run("loihi2")
    inputs, _, sources = load_energy_inputs(_write(tmp_path, data, bundle))
    assert inputs.timesteps == 2 and sources.bundle_dir == str(bundle)


def test_enof_energy_refuses_negative_host_macs_in_one_line_with_exit_1(digits_run, tmp_path, cli_refuses):
    bundle, data = digits_run("loihi2")
    data["host"]["host_out_macs"] = -1
    path = _write(tmp_path, data, bundle)
    cli_refuses("enof-energy", path, fragments=(f"{path}: field 'host.host_out_macs' is -1, outside [0, ",))
    path = _write(tmp_path, _rescaled(digits_run("loihi2")[1], 4), bundle)  # a T = 4 run for this T = 2 bundle
    cli_refuses("enof-energy", path, fragments=("field 'timesteps' is 4, but the bundle runs T = 2",))
