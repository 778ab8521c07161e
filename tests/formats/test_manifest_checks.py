"""manifest.json of a real exported bundle, edited: every field's type and range, the embedded profile, and
timesteps, classes and shapes against chip.nir and the ONNX host graphs, each refused in one line."""

import hashlib
import json

import onnx
import pytest

from enof.errors import BundleError
from enof.formats.manifest import MAX_TIMESTEPS, manifest_from_dict
from enof.hardware_profiles import load_profile
from enof.runtime.bundle import open_bundle


@pytest.fixture
def bundle(edited_bundle):
    return edited_bundle("loihi2")


def _set(path: str, value):
    """An edit setting manifest field `path` ("a/b" for nested objects, "a/0" for array entries)."""

    def edit(data):
        *parents, last = path.split("/")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[int(last) if isinstance(node, list) else last] = value

    return edit


@pytest.mark.parametrize(
    "path, value, tail",
    [
        ("timesteps", 10**9, "field 'timesteps' is 1000000000, outside [1, 16777216] (float32 counts T spikes exactly only up to 2^24)"),
        ("timesteps", 0, "field 'timesteps' is 0, outside [1, 16777216] (float32 counts T spikes exactly only up to 2^24)"),
        ("timesteps", "2", "field 'timesteps' must be an integer, got string '2'"),
        ("timesteps", True, "field 'timesteps' must be an integer, got boolean True"),
        ("timesteps", 2.0, "field 'timesteps' must be an integer, got number 2.0"),
        ("num_classes", -3, "field 'num_classes' is -3, outside [1, inf]"),
        ("num_classes", None, "field 'num_classes' must be an integer, got null None"),
        ("checkpoint_sha256", "abc", "field 'checkpoint_sha256' must be a sha256 (64 lowercase hex digits), got string 'abc'"),
        ("files/quant.npz", 5, "field 'files.quant.npz' must be a sha256 (64 lowercase hex digits), got number 5"),
        ("input_mode", "analog", "field 'input_mode' is 'analog', not one of graded, spikes, current"),
        ("input_mode", "current", "field 'input_mode' is 'current', but the loihi2 profile has graded spikes (expected graded)"),
        ("target/name", "loihi", "field 'target.name' is 'loihi' but its profile is the 'loihi2' profile"),
        ("target/profile", "x = 1", "field 'target.profile_sha256' is not the sha256 of target.profile (the profile text changed after export)"),
        ("target", [], "field 'target' must be an object, got array []"),
        ("dataset/input_shape", [0, 8, 8], "field 'dataset.input_shape[0]' is 0, outside [1, inf]"),
        ("dataset/input_shape", "1x8x8", "field 'dataset.input_shape' must be an array, got string '1x8x8'"),
        ("dataset/num_classes", 7, "field 'dataset.num_classes' is 7, outside [10, 10] (the manifest's num_classes)"),
        ("dataset/normalization/std", [0.0], "field 'dataset.normalization.std[0]' is 0.0; a standard deviation must be > 0"),
        ("partition/0/where", "gpu", "field 'partition[0].where' is 'gpu', not one of chip, host_in, host_out"),
        ("partition/1/shape", [8, -1], "field 'partition[1].shape[1]' is -1, outside [1, inf]"),
        ("interfaces", 7, "field 'interfaces' must be an object or an array, got number 7"),
        ("versions/nir", 1.0, "field 'versions.nir' must be a string, got number 1.0"),
    ],
)  # fmt: skip
def test_a_wrong_field_type_or_range_is_one_line_naming_file_and_field(bundle, refused, path, value, tail):
    bundle.edit_manifest(_set(path, value))
    refused(lambda: open_bundle(bundle.root), BundleError, f"manifest.json: {tail}")


def test_timesteps_that_disagree_with_host_out_are_refused_before_onnx_runtime_sees_them(bundle, refused):
    bundle.edit_manifest(_set("timesteps", 4))
    refused(lambda: open_bundle(bundle.root), BundleError,
            "host_out.onnx: input 'act2' has shape (2, ?, 16, 4, 4), expected (4, batch, 16, 4, 4) (dimension 0)")


def test_classes_that_disagree_with_the_logits_are_refused(bundle, refused):
    bundle.edit_manifest(lambda d: d.update(num_classes=11, dataset={**d["dataset"], "num_classes": 11}))
    refused(lambda: open_bundle(bundle.root), BundleError,
            "host_out.onnx: output 'logits' has shape (?, 10), expected (batch, 11) (dimension 1)")


def test_an_input_shape_that_is_not_the_chips_is_refused_graded_and_current(edited_bundle, refused):
    graded = edited_bundle("loihi2")
    graded.edit_manifest(_set("dataset/input_shape", [1, 8, 9]))
    refused(lambda: open_bundle(graded.root), BundleError,
            "manifest.json: dataset.input_shape (1, 8, 9) is not chip.nir's input (1, 8, 8) (graded input)")
    current = edited_bundle("loihi")
    current.edit_manifest(_set("dataset/input_shape", [1, 8, 9]))
    refused(lambda: open_bundle(current.root), BundleError,
            "host_in.onnx: input 'x' has shape (?, 1, 8, 8), expected (batch, 1, 8, 9) (dimension 3)")


def test_a_host_graph_that_fixes_the_batch_or_feeds_other_tensors_is_refused(bundle, refused):
    model = onnx.load(str(bundle.root / "host_out.onnx"))
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 4
    bundle.write_file("host_out.onnx", model.SerializeToString())
    refused(lambda: open_bundle(bundle.root), BundleError,
            "host_out.onnx: input 'act2' fixes its batch dimension 1 to 4; it must be symbolic")
    model.graph.input[0].name = "act1"
    bundle.write_file("host_out.onnx", model.SerializeToString())
    refused(lambda: open_bundle(bundle.root), BundleError,
            "host_out.onnx: input 'act1' is not a chip output (chip.nir outputs: act2)")
    bundle.write_file("host_out.onnx", b"\x08\x01garbage")
    message = refused(lambda: open_bundle(bundle.root), BundleError, "; the file is truncated or damaged")
    assert "host_out.onnx: cannot read ONNX" in message


@pytest.mark.parametrize(
    "raw, tail",
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply to parse (a damaged or hostile file)"),
        ('{"format": "enof-bundle", "format_version": NaN}', "not valid JSON (NaN is not a JSON number)"),
        ('{"format": "enof-bundle", "format_version": 1' + "9" * 5000 + "}", "to increase the limit)"),
        (b"\xff\xfe{}", "not UTF-8 text (a damaged file or not JSON)"),
        ("[1, 2]", "expected a JSON object, got array"),
    ],
)  # fmt: skip
def test_hostile_json_is_one_line(bundle, refused, raw, tail):
    bundle.write_manifest(raw)
    message = refused(lambda: open_bundle(bundle.root), BundleError, tail)
    assert "manifest.json: " in message


def test_a_free_form_record_nested_too_deep_is_refused(bundle, refused):
    deep = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    bundle.edit_manifest(_set("dataset/extra", deep))
    refused(lambda: open_bundle(bundle.root), BundleError, "manifest.json: field 'dataset' nests deeper than 32 levels")


def test_timesteps_bound_is_inclusive(bundle):
    data = bundle.manifest()
    assert manifest_from_dict({**data, "timesteps": MAX_TIMESTEPS}, "m").timesteps == 2**24
    with pytest.raises(BundleError, match=r"^m: field 'timesteps' is 16777217, outside \[1, 16777216\]"):
        manifest_from_dict({**data, "timesteps": MAX_TIMESTEPS + 1}, "m")


def test_a_profile_the_schema_no_longer_accepts_needs_a_fallback_profile(bundle, refused):
    # A bundle exported before the profile schema gained a field: its embedded text no longer loads.
    data = bundle.manifest()
    text = "\n".join(line for line in data["target"]["profile"].splitlines() if not line.startswith("max_chips")) + "\n"
    data["target"].update(profile=text, profile_sha256=hashlib.sha256(text.encode()).hexdigest())
    bundle.write_manifest(data)
    message = refused(lambda: open_bundle(bundle.root), BundleError,
                      "re-export the bundle, or give a profile to check it against (enof-energy --profile NAME|PATH)")
    assert "manifest.json target.profile: [limits].max_chips: missing" in message
    loaded = open_bundle(bundle.root, fallback_profile=load_profile("loihi2"))
    assert loaded.profile.name == "loihi2"
    with pytest.raises(BundleError, match="field 'target.name' is 'loihi2' but its profile is the 'loihi' profile"):
        open_bundle(bundle.root, fallback_profile=load_profile("loihi"))


def test_enof_run_refuses_timesteps_that_disagree_with_host_out_in_one_line(bundle, cli_refuses, tmp_path):
    bundle.edit_manifest(_set("timesteps", 4))
    cli_refuses("enof-run", bundle.root, "--limit", "2", "-o", tmp_path / "run.json",
                fragments=("host_out.onnx: input 'act2' has shape (2, ?, 16, 4, 4), expected (4, batch, 16, 4, 4)",))
    bundle.edit_manifest(_set("timesteps", 10**9))
    cli_refuses("enof-run", bundle.root, "-o", tmp_path / "run.json", fragments=("field 'timesteps' is 1000000000",))
    assert json.loads((bundle.root / "manifest.json").read_text())["timesteps"] == 10**9 and not (tmp_path / "run.json").exists()


def test_weight_bits_above_the_register_or_that_the_integers_break_are_refused(bundle, refused):
    """Issue 14: the manifest records the weight grid (--weight-bits); 8-bit integers claimed as 4-bit are caught."""
    assert json.loads((bundle.root / "manifest.json").read_text())["weight_bits"] == 8
    open_bundle(bundle.root)
    bundle.edit_manifest(_set("weight_bits", 9))
    refused(lambda: open_bundle(bundle.root), BundleError,
            "manifest.json: field 'weight_bits' is 9, but the loihi2 profile's synapses take at most 8 weight bits")
    bundle.edit_manifest(_set("weight_bits", 4))
    message = refused(lambda: open_bundle(bundle.root), BundleError, "(the 4-bit grid of the loihi2 profile's 8-bit weights)")
    assert "weight_bits is 4, but conv" in message and "multiples of 16" in message


def test_a_4_bit_export_records_its_grid_and_opens(tmp_path, digits_bundle):
    from enof.exporter.export import export_bundle

    bundle, _ = digits_bundle("loihi2")
    four = export_bundle(bundle.parent / "model.pt", "loihi2", tmp_path / "four", calibrate=16, weight_bits=4).out_dir
    assert json.loads((four / "manifest.json").read_text())["weight_bits"] == 4
    assert all(not (s.weight_int % 16).any() for s in open_bundle(four).program.synapses)
