"""Bundle container: atomic write, hash-checked read, one-line errors naming the file."""

import hashlib
import io
import json
from dataclasses import replace

import nir
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from enof.errors import BundleError
from enof.exporter.host_macs import host_macs
from enof.exporter.placement import LayerSpec, dense_synapses, place
from enof.formats.dataset_record import DatasetSpec
from enof.formats.bundle import read_bundle, write_bundle
from enof.formats.manifest import HostMacs, Manifest, PartitionRecord, TargetInfo
from enof.formats.placement import read_placement
from enof.hardware_profiles import load_profile


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Real files of a tiny network: a NIR graph, an ONNX classifier, quant.npz, placement.json."""
    d = tmp_path_factory.mktemp("parts")
    w = np.arange(12, dtype=np.float32).reshape(3, 4) / 10
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([4])}),
            "fc": nir.Linear(weight=w),
            "lif": nir.LIF(tau=np.full(3, 4 / 3), r=np.full(3, 4 / 3), v_leak=np.zeros(3),
                           v_threshold=np.full(3, 0.5), v_reset=np.zeros(3)),
            "output": nir.Output(output_type={"output": np.array([3])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
    )
    nir.write(d / "chip.nir", graph)
    model = helper.make_model(helper.make_graph(
        [helper.make_node("ReduceMean", ["lif"], ["logits"], axes=[0], keepdims=0)], "host_out",
        [helper.make_tensor_value_info("lif", TensorProto.FLOAT, ["T", "B", 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 3])],
    ), opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    buf = io.BytesIO()
    np.savez(buf, **{"fc.weight_int": np.round(w * 64).astype(np.int32), "fc.weight_exp": np.int32(0)})
    profile = load_profile("loihi2")  # graded input, as the manifest says
    placement = place([LayerSpec("lif", (3,), (dense_synapses("input", 4, (3,)),), to_host=True)], profile)
    manifest = Manifest(
        checkpoint_sha256="0" * 64,
        target=TargetInfo(profile.name, profile.sha256, profile.text),
        timesteps=4, num_classes=3,
        dataset=DatasetSpec.from_record({"name": "digits", "input_shape": [1, 8, 8],
                                         "normalization": {"mean": [0.0], "std": [16.0]}}),
        input_mode="graded",
        partition=(PartitionRecord("fc", "chip", [3], "weight layer before a LIF"),
                   PartitionRecord("lif", "chip", [3], "LIF"),
                   PartitionRecord("head", "host_out", [3], "after the last LIF")),
        host_macs=host_macs(None, model.SerializeToString(), (1, 8, 8), {"lif": (3,)}, 4),
        interfaces=[{"from": "chip", "to": "host_out", "tensor": "lif", "shape": ["T", "B", 3], "time": "aligned"}],
    )
    files = {"chip.nir": d / "chip.nir", "host_out.onnx": model.SerializeToString(),
             "quant.npz": buf.getvalue(), "placement.json": placement.to_json_bytes()}
    return manifest, files


def test_round_trip_hashes_every_file_and_real_readers_open_them(tmp_path, parts):
    manifest, files = parts
    written = write_bundle(tmp_path / "bundle", manifest, files)
    b = read_bundle(tmp_path / "bundle")
    assert b.manifest == written and b.manifest.files == written.files
    assert set(b.paths) == set(files)
    for name, path in b.paths.items():
        assert b.manifest.files[name] == hashlib.sha256(path.read_bytes()).hexdigest()
    raw = (tmp_path / "bundle" / "manifest.json").read_bytes()
    assert b.manifest_sha256 == hashlib.sha256(raw).hexdigest()
    data = json.loads(raw)
    assert (data["format"], data["format_version"]) == ("enof-bundle", 2)
    # a ReduceMean head does no multiply-accumulate, at T = 4 or at T = 1
    assert data["host_macs"] == {"host_in": {}, "host_out": {}, "host_out_one_step": 0}
    assert set(data["versions"]) == {"enof", "nir", "onnx", "torch"}
    assert data["target"]["profile"] == load_profile("loihi2").text
    # the files are the real formats, readable by their own libraries
    assert set(nir.read(b.path("chip.nir")).nodes) == {"input", "fc", "lif", "output"}
    onnx.checker.check_model(onnx.load(b.path("host_out.onnx")))
    assert np.load(b.path("quant.npz"))["fc.weight_int"].shape == (3, 4)
    assert read_placement(b.path("placement.json")).cores[0].layer == "lif"
    # nothing else left beside the bundle (no temp or backup directory)
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_corrupted_file_is_a_sha256_mismatch_naming_it(tmp_path, parts):
    write_bundle(tmp_path / "bundle", *parts)
    with open(tmp_path / "bundle" / "chip.nir", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))  # one flipped bit
    with pytest.raises(BundleError) as info:
        read_bundle(tmp_path / "bundle")
    assert str(info.value) == f"{tmp_path / 'bundle' / 'chip.nir'}: sha256 mismatch (file changed after export)"


def test_missing_file_is_named(tmp_path, parts):
    write_bundle(tmp_path / "bundle", *parts)
    (tmp_path / "bundle" / "quant.npz").unlink()
    with pytest.raises(BundleError, match=r"bundle/quant\.npz: missing \(listed in manifest\.json\)$"):
        read_bundle(tmp_path / "bundle")


def test_unknown_format_version_is_refused(tmp_path, parts):
    write_bundle(tmp_path / "bundle", *parts)
    path = tmp_path / "bundle" / "manifest.json"
    data = json.loads(path.read_text())
    data["format_version"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"manifest\.json: format_version 3 is not supported \(this enof reads 2"):
        read_bundle(tmp_path / "bundle")
    data["format_version"] = 1  # a bundle from before the host MACs were counted at export
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"manifest\.json: format_version 1 is not 2 \(the host layers' MACs are "
                                          r"counted at export since version 2; re-export the bundle\)$"):
        read_bundle(tmp_path / "bundle")
    data["format_version"], data["format"] = 2, "enof-run"
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"manifest\.json: format 'enof-run' is not 'enof-bundle'"):
        read_bundle(tmp_path / "bundle")


def test_truncated_manifest_is_refused_in_one_line(tmp_path, parts):
    write_bundle(tmp_path / "bundle", *parts)
    path = tmp_path / "bundle" / "manifest.json"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BundleError) as info:
        read_bundle(tmp_path / "bundle")
    msg = str(info.value)
    assert "manifest.json: not valid JSON" in msg and "truncated" in msg and "\n" not in msg


def test_manifest_missing_a_field_or_a_required_file_is_named(tmp_path, parts):
    write_bundle(tmp_path / "bundle", *parts)
    path = tmp_path / "bundle" / "manifest.json"
    data = json.loads(path.read_text())
    del data["timesteps"]
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"manifest\.json: field 'timesteps' missing"):
        read_bundle(tmp_path / "bundle")
    manifest, files = parts
    with pytest.raises(BundleError, match=r"bundle lacks host_in\.onnx \(required in current mode\)"):
        loihi = load_profile("loihi")  # current mode: a target without graded spikes
        current = {"input_mode": "current", "target": TargetInfo(loihi.name, loihi.sha256, loihi.text)}
        write_bundle(tmp_path / "b2", Manifest(**{**manifest.__dict__, **current}), files)
    assert not (tmp_path / "b2").exists()


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("host_macs"), "field 'host_macs' missing"),
    (lambda m: m["host_macs"]["host_out"].update(fc__weight=-1), "field 'host_macs.host_out.fc__weight'"),
    (lambda m: m["host_macs"]["host_in"].update(conv__weight=5), "field 'host_macs.host_in' counts MACs, but a graded "
                                                                  "bundle has no host_in.onnx"),
    (lambda m: m["host_macs"].update(host_out_one_step=1.5), "field 'host_macs.host_out_one_step'"),
    (lambda m: m["host_macs"]["host_out"].update(fc__weight=2**63), r"field 'host_macs.host_out.fc__weight' .*64-bit count"),
])  # fmt: skip
def test_host_macs_are_checked_when_read(tmp_path, parts, change, message):
    write_bundle(tmp_path / "bundle", *parts)
    path = tmp_path / "bundle" / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=message):
        read_bundle(tmp_path / "bundle")


def test_host_macs_totals_add_each_graphs_nodes():
    macs = HostMacs({"conv__weight": 576}, {"a__weight": 3072, "fc__weight": 54}, 822)
    assert (macs.host_in_total, macs.host_out_total) == (576, 3126)


class _FailingFile(io.RawIOBase):
    """A binary file object that yields some bytes and then fails, like a disk or network error."""

    def __init__(self):
        self.calls = 0

    def readable(self):
        return True

    def read(self, size=-1):
        self.calls += 1
        if self.calls > 1:
            raise OSError("simulated read failure")
        return b"x" * 1000


def test_interrupted_write_leaves_no_bundle_and_no_temp_dir(tmp_path, parts):
    manifest, files = parts
    with pytest.raises(OSError, match="simulated read failure"):
        write_bundle(tmp_path / "bundle", manifest, {**files, "quant.npz": _FailingFile()})
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rewrite_keeps_the_previous_bundle_intact(tmp_path, parts):
    manifest, files = parts
    first = write_bundle(tmp_path / "bundle", manifest, files)
    with pytest.raises(OSError):
        write_bundle(tmp_path / "bundle", manifest, {**files, "chip.nir": _FailingFile()})
    assert read_bundle(tmp_path / "bundle").manifest == first
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]
    # a complete rewrite replaces it
    second = write_bundle(tmp_path / "bundle", manifest, {**files, "quant.npz": b"new"})
    assert read_bundle(tmp_path / "bundle").manifest.files["quant.npz"] == hashlib.sha256(b"new").hexdigest()
    assert second.files["chip.nir"] == first.files["chip.nir"]
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


def test_refuses_to_replace_a_directory_that_is_not_a_bundle(tmp_path, parts):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(BundleError, match="photos: exists and is not an enof bundle; refusing to replace it"):
        write_bundle(tmp_path / "photos", *parts)
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"meow"


def test_file_names_must_be_plain(tmp_path, parts):
    manifest, files = parts
    with pytest.raises(BundleError, match=r"bad bundle file name '\.\./evil'"):
        write_bundle(tmp_path / "bundle", manifest, {**files, "../evil": b"x"})
    assert list(tmp_path.iterdir()) == []


def test_manifest_given_as_json_dict_is_checked_and_written_the_same(tmp_path, parts):
    manifest, files = parts
    as_dict = {k: v for k, v in manifest.to_dict().items() if k not in ("format", "format_version")}
    written = write_bundle(tmp_path / "bundle", as_dict, files)
    assert read_bundle(tmp_path / "bundle").manifest == written
    assert written.partition == manifest.partition and written.target == manifest.target
    with pytest.raises(BundleError, match=r"manifest\.json \(to write\): field 'num_classes' missing"):
        write_bundle(tmp_path / "b2", {k: v for k, v in as_dict.items() if k != "num_classes"}, files)


def test_module_paths_map_readable_names_to_module_paths_and_older_manifests_without_it_still_load(tmp_path, parts):
    manifest, files = parts
    paths = {"fc": "backbone.0", "lif": "backbone.1"}
    written = write_bundle(tmp_path / "bundle", replace(manifest, module_paths=paths), files)
    assert read_bundle(tmp_path / "bundle").manifest.module_paths == paths == written.module_paths
    older = {k: v for k, v in written.to_dict().items() if k != "module_paths"}  # a bundle exported before the field
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps(older))
    assert read_bundle(tmp_path / "bundle").manifest.module_paths == {}
    (tmp_path / "bundle" / "manifest.json").write_text(json.dumps({**older, "module_paths": {"fc": 5}}))
    with pytest.raises(BundleError, match=r"manifest\.json: field 'module_paths\.fc' must be a string, got number 5$"):
        read_bundle(tmp_path / "bundle")


@pytest.mark.parametrize("record", [
    {"name": "none", "input_shape": [2, 8, 8]},  # a NIR graph exported without a data set
    {"name": "digits", "input_shape": [1, 8, 8], "normalization": {"mean": [0], "std": [16]}},  # integers stay
    {"name": "nmnist", "input_shape": [2, 17, 17], "num_classes": 3, "temporal": True,
     "normalization": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}},
])  # fmt: skip
def test_the_dataset_travels_typed_and_is_written_back_as_it_was_read(tmp_path, parts, record):
    """manifest.json's dataset is a DatasetSpec in memory (attributes, not string keys) and the same JSON on disk."""
    manifest, files = parts
    write_bundle(tmp_path / "bundle", replace(manifest, dataset=DatasetSpec.from_record(record)), files)
    read = read_bundle(tmp_path / "bundle").manifest
    assert isinstance(read.dataset, DatasetSpec) and read.dataset.name == record["name"]
    assert read.input_shape == tuple(record["input_shape"]) and read.dataset.is_temporal == record.get("temporal", False)
    on_disk = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["dataset"]
    assert json.dumps(on_disk) == json.dumps(record)  # same keys, order and number types


def test_a_normalization_that_does_not_fit_the_channels_is_refused(tmp_path, parts):
    write_bundle(tmp_path / "bundle", *parts)
    path = tmp_path / "bundle" / "manifest.json"
    data = json.loads(path.read_text())
    data["dataset"]["normalization"]["mean"] = [0.0, 0.0]  # digits has one channel
    path.write_text(json.dumps(data))
    with pytest.raises(BundleError, match=r"field 'dataset.normalization.mean' has 2 entries, expected 1$"):
        read_bundle(tmp_path / "bundle")


def test_a_host_mac_count_at_the_64_bit_limit_reads(tmp_path, parts):
    """The other side of the bound above: 2^63 − 1 is a count run.json can hold."""
    write_bundle(tmp_path / "bundle", *parts)
    path = tmp_path / "bundle" / "manifest.json"
    data = json.loads(path.read_text())
    data["host_macs"]["host_out"]["fc__weight"] = 2**63 - 1
    path.write_text(json.dumps(data))
    assert read_bundle(tmp_path / "bundle").manifest.host_macs.host_out_total == 2**63 - 1
