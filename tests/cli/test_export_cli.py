"""enof-export: prints the partition, quantization and placement tables; user errors are one line, exit 1,
before any export work and leaving nothing on disk (issue 15: damaged or incomplete checkpoints, bad -o)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from enof.cli.export import app


def _digits_checkpoint(path, change=None):
    """A width-4 digits_cnn written with its digest, after ``change(payload)`` on the fields as they go on disk."""
    from enof.trainer.checkpoint import Checkpoint, write_checkpoint_payload
    from enof.datasets import dataset_spec
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    torch.manual_seed(0)
    model = build_model("digits_cnn", repact=True, timesteps=2, num_classes=10, width=4)
    ckpt = Checkpoint(arch="digits_cnn", arch_kwargs={"num_classes": 10, "width": 4},
                      neuron=NeuronConfig().to_dict(), timesteps=2, repact=True,
                      state_dict=model.state_dict(), dataset=dataset_spec("digits"))  # fmt: skip
    payload = ckpt.to_dict()  # the fields as they go on disk: change them there
    if change is not None:
        change(payload)
    write_checkpoint_payload(payload, path)
    return path


def test_export_cli_writes_the_bundle_and_prints_the_three_tables(tmp_path):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    result = CliRunner().invoke(app, [str(ckpt), "--target", "loihi", "--calibrate", "8"])
    assert result.exit_code == 0, result.output
    for heading in ("Partition (current input", "Quantization (input.scale", "Placement on loihi", "host_in", "host_out"):
        assert heading in result.output
    assert (tmp_path / "model-loihi-bundle" / "manifest.json").is_file()


def test_export_cli_unknown_target_is_one_line_exit_1(tmp_path):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    result = CliRunner().invoke(app, [str(ckpt), "--target", "nosuchchip", "-o", str(tmp_path / "b")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()


def _flip_a_weight_byte(path):
    stored = torch.load(path, weights_only=True)["state_dict"]["backbone.3.weight"].numpy().tobytes()
    data = bytearray(path.read_bytes())
    data[data.find(stored) + len(stored) // 2] ^= 0x01  # torch stores tensor bytes raw, with no CRC check
    path.write_bytes(bytes(data))


def _nan_weight(payload):
    payload["state_dict"]["backbone.3.weight"][0, 0, 1, 1] = float("nan")


def _no_decay(payload):
    del payload["neuron"]["decay"]


def _no_input_shape(payload):
    del payload["dataset"]["input_shape"]


def _no_normalization(payload):
    del payload["dataset"]["normalization"]


@pytest.mark.parametrize("change, flip, expected", [
    (None, True, "the weights do not match the checkpoint's state_dict_sha256"),
    (_nan_weight, False, "state_dict tensor 'backbone.3.weight' holds 1 non-finite value(s) (NaN or inf)"),
    (_no_decay, False, "checkpoint field 'neuron.decay' is missing"),
    (_no_input_shape, False, "checkpoint field 'dataset.input_shape' is missing"),
    (_no_normalization, False, "checkpoint field 'dataset.normalization' is missing"),
])  # fmt: skip
def test_damaged_or_incomplete_checkpoint_is_refused_in_one_line_and_no_bundle_is_written(
    tmp_path, change, flip, expected, one_line_error
):
    ckpt = _digits_checkpoint(tmp_path / "model.pt", change)
    if flip:
        _flip_a_weight_byte(ckpt)
    result = CliRunner().invoke(app, [str(ckpt), "--target", "loihi", "--calibrate", "0"])
    one_line_error(result, str(ckpt), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


@pytest.fixture
def no_export_work(monkeypatch):
    """Make any export work fail loudly: an output check must refuse before it."""
    import enof.exporter.export as export_module

    def refuse(*args, **kwargs):
        raise AssertionError("export work started before the output was checked")

    monkeypatch.setattr(export_module, "prepare_export", refuse)


def test_output_that_is_a_file_or_another_folder_is_refused_before_export_work(tmp_path, no_export_work, one_line_error):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    one_line_error(CliRunner().invoke(app, [str(ckpt), "--target", "loihi", "-o", str(a_file)]),
                    f"-o {a_file}: is a file, not a bundle folder")  # fmt: skip
    assert a_file.read_text() == "keep me"
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    one_line_error(CliRunner().invoke(app, [str(ckpt), "--target", "loihi", "-o", str(other)]),
                    f"-o {other}: exists and is not a bundle folder; refusing to replace it")  # fmt: skip
    assert [p.name for p in other.iterdir()] == ["cat.jpg"]
    one_line_error(CliRunner().invoke(app, [str(ckpt), "--target", "loihi", "-o", str(a_file / "bundle")]),
                    f"-o {a_file / 'bundle'}: {a_file} is a file, not a folder")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "notes.txt", "photos"]


def test_output_in_a_read_only_folder_is_refused_in_one_line(tmp_path, refuses_read_only_output):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    refuses_read_only_output("enof-export", ckpt, "--target", "loihi", name="bundle")


def test_missing_parent_folders_of_the_bundle_are_created(tmp_path):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "exports" / "today" / "bundle"
    result = CliRunner().invoke(app, [str(ckpt), "--target", "loihi2", "--calibrate", "0", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "manifest.json").is_file()
    again = CliRunner().invoke(app, [str(ckpt), "--target", "loihi2", "--calibrate", "0", "-o", str(out)])
    assert again.exit_code == 0, again.output  # an existing bundle is replaced


def _write_nir(path, nodes: dict, edges=None):
    """A NIR file of ``nodes`` (a chain in insertion order unless ``edges``), written without nir's type check."""
    import nir

    order = list(nodes)
    nir.write(str(path), nir.NIRGraph(nodes, edges if edges is not None else list(zip(order, order[1:])), type_check=False))
    return path


def _dense_nodes(lif_shape=(3,), lif=None, output=True):
    import nir
    import numpy as np

    full = lambda shape, v: np.full(shape, v, np.float32)  # noqa: E731
    nodes = {
        "input": nir.Input({"input": np.array([4])}),
        "fc": nir.Affine(np.ones((3, 4), np.float32), np.zeros(3, np.float32)),
        "lif": lif or nir.LIF(tau=full(lif_shape, 5e-4), r=full(lif_shape, 1.25), v_leak=full(lif_shape, 0.0),
                              v_threshold=full(lif_shape, 1.0), v_reset=full(lif_shape, 0.0)),
    }  # fmt: skip
    if output:
        nodes["output"] = nir.Output({"output": np.array([3])})
    return nodes


def _bad_nir(kind, folder):
    import nir
    import numpy as np

    path = folder / "graph.nir"
    if kind == "not-hdf5":
        path.write_text("not a graph")
    elif kind == "cycle":
        _write_nir(path, _dense_nodes(), [("input", "fc"), ("fc", "lif"), ("lif", "fc"), ("lif", "output")])
    elif kind == "unknown-node":
        _write_nir(path, {**_dense_nodes(output=False), "delay": nir.Delay(np.ones(3, np.float32)),
                          "output": nir.Output({"output": np.array([3])})})  # fmt: skip
    elif kind == "lif-shape":
        _write_nir(path, _dense_nodes(lif_shape=(5,)))
    elif kind == "no-output":
        _write_nir(path, _dense_nodes(output=False))
    return path


@pytest.mark.parametrize(
    "kind, fragments",
    [
        ("not-hdf5", ["graph.nir: not an HDF5 file, so not a NIR graph"]),
        ("cycle", ["recurrent edges (fc → lif, lif → fc)"]),
        ("unknown-node", ["delay: NIR node type Delay is not supported; enof reads Input, Output, Conv2d"]),
        ("lif-shape", ["lif: v_leak has shape (5,), its input has shape (3,)"]),
        ("no-output", ["0 Output nodes"]),
    ],
)
def test_bad_nir_graph_is_one_line_naming_node_or_field_and_nothing_is_written(tmp_path, one_line_error, kind, fragments):
    path = _bad_nir(kind, tmp_path)
    result = CliRunner().invoke(app, [str(path), "--target", "loihi2", "--timesteps", "2", "--dt-s", "1e-4",
                                      "-o", str(tmp_path / "bundle")])  # fmt: skip
    one_line_error(result, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.nir"]


def test_a_file_that_is_neither_a_checkpoint_nor_a_nir_graph_names_both(tmp_path, one_line_error):
    junk = tmp_path / "weights.bin"
    junk.write_bytes(b"\x00\x01 not a model")
    result = CliRunner().invoke(app, [str(junk), "--target", "loihi", "-o", str(tmp_path / "bundle")])
    one_line_error(result, "weights.bin: neither an enof model.pt", "nor a NIR graph")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.bin"]


def test_nir_graph_without_timesteps_asks_for_them(tmp_path, one_line_error):
    path = _write_nir(tmp_path / "graph.nir", _dense_nodes())
    one_line_error(CliRunner().invoke(app, [str(path), "--target", "loihi2"]), "graph.nir", "pass --timesteps")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.nir"]


def test_dense_nir_graph_in_snntorch_convention_exports_for_both_targets_without_a_data_set(tmp_path):
    """No --dataset: the record is 'none' and --input-bound sizes the ranges; Loihi 1 puts fc on the host."""
    import json

    path = _write_nir(tmp_path / "graph.nir", _dense_nodes())
    for target, first_layer_where in (("loihi2", "chip"), ("loihi", "host_in")):
        out = tmp_path / target
        result = CliRunner().invoke(app, [str(path), "--target", target, "--timesteps", "3", "--dt-s", "1e-4", "-o", str(out), "--json"])
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["dataset"]["name"] == "none" and manifest["timesteps"] == 3 and manifest["num_classes"] == 3
        assert {r["node"]: r["where"] for r in manifest["partition"]}["fc"] == first_layer_where


def test_event_data_enters_a_target_without_graded_spikes_as_binary_spikes_on_the_chip():
    """Issue 12: on Loihi 1 event frames are not a host-in current (constant over T) but spikes into the first
    layer's axons: the first conv is on the chip and the input mode is "spikes"; static digits stay current."""
    import torch

    from enof.datasets import dataset_spec
    from enof.exporter.export import quantize_for_target
    from enof.exporter.graph import NeuronParams, capture
    from enof.hardware_profiles import load_profile
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    torch.manual_seed(0)
    model = build_model("mnist_cnn", repact=True, timesteps=2, neuron=NeuronConfig(), num_classes=10, in_channels=2,
                        width=2).eval()  # fmt: skip
    graph = capture(model, (2, 48, 48), 2, NeuronParams(0.25, 1.0))
    record = dataset_spec("cifar10dvs")
    part, quant, _, _ = quantize_for_target(graph, load_profile("loihi"), record, x_bound=4.0)
    assert part.input_mode == "spikes" and quant.input_scale == 1.0 and not part.names("host_in")
    first = next(e for e in part.entries if e.where == "chip" and "input" in graph.nodes[e.node].sources)
    assert "binary spikes" in first.reason
    static = quantize_for_target(graph, load_profile("loihi"), replace(record, temporal=False), x_bound=4.0)[0]
    assert static.input_mode == "current" and static.names("host_in")
