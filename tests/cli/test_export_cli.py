"""enof-export: prints the partition, quantization and placement tables; user errors are one line, exit 1,
before any export work and leaving nothing on disk (issue 15: damaged or incomplete checkpoints, bad -o)."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from enof.cli.export import app


def _digits_checkpoint(path, change=None):
    """A width-4 digits_cnn written by save_checkpoint, after ``change(checkpoint)`` (its digest matches)."""
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint
    from enof.datasets import dataset_spec
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    torch.manual_seed(0)
    model = build_model("digits_cnn", repact=True, timesteps=2, num_classes=10, width=4)
    ckpt = Checkpoint(arch="digits_cnn", arch_kwargs={"num_classes": 10, "width": 4},
                      neuron=NeuronConfig().to_dict(), timesteps=2, repact=True,
                      state_dict=model.state_dict(), dataset=dataset_spec("digits").record())  # fmt: skip
    if change is not None:
        change(ckpt)
    save_checkpoint(ckpt, path)
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


def _nan_weight(ckpt):
    ckpt.state_dict["backbone.3.weight"][0, 0, 1, 1] = float("nan")


def _no_decay(ckpt):
    del ckpt.neuron["decay"]


def _no_input_shape(ckpt):
    del ckpt.dataset["input_shape"]


def _no_normalization(ckpt):
    del ckpt.dataset["normalization"]


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
