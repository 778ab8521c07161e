"""enof-export: prints the partition, quantization and placement tables; user errors are one line, exit 2."""

from __future__ import annotations

from typer.testing import CliRunner

from enof.cli.export import app


def _digits_checkpoint(path):
    import torch

    from enof.trainer.checkpoint import Checkpoint, save_checkpoint
    from enof.trainer.data import dataset_spec
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    torch.manual_seed(0)
    model = build_model("digits_cnn", repact=True, timesteps=2, num_classes=10, width=4)
    save_checkpoint(Checkpoint(arch="digits_cnn", arch_kwargs={"num_classes": 10, "width": 4},
                               neuron=NeuronConfig().to_dict(), timesteps=2, repact=True,
                               state_dict=model.state_dict(), dataset=dataset_spec("digits").record()), path)  # fmt: skip
    return path


def test_export_cli_writes_the_bundle_and_prints_the_three_tables(tmp_path):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    result = CliRunner().invoke(app, [str(ckpt), "--target", "loihi", "--calibrate", "8"])
    assert result.exit_code == 0, result.output
    for heading in ("Partition (current input", "Quantization (input.scale", "Placement on loihi", "host_in", "host_out"):
        assert heading in result.output
    assert (tmp_path / "model-loihi-bundle" / "manifest.json").is_file()


def test_export_cli_unknown_target_is_one_line_exit_2(tmp_path):
    ckpt = _digits_checkpoint(tmp_path / "model.pt")
    result = CliRunner().invoke(app, [str(ckpt), "--target", "nosuchchip", "-o", str(tmp_path / "b")])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: ") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
