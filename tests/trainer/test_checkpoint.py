"""model.pt round-trips exactly; anything else is refused with a one-line CheckpointError naming the file."""

import pickle
from pathlib import Path

import pytest
import torch

from enof.errors import CheckpointError
from enof.trainer.checkpoint import (
    Checkpoint,
    build_model_from_checkpoint,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
    versions,
)
from enof.trainer.data import dataset_spec
from enof.trainer.models import build_model, repeat_over_time
from enof.trainer.neurons import NeuronConfig


def _checkpoint(mode="snn", repact=True):
    torch.manual_seed(0)
    model = build_model("digits_cnn", mode=mode, repact=repact, timesteps=2, neuron=NeuronConfig(),
                        num_classes=10, in_channels=1)
    return model, Checkpoint(
        arch="digits_cnn", arch_kwargs={"num_classes": 10, "in_channels": 1}, neuron=NeuronConfig().to_dict(),
        timesteps=2, repact=repact, state_dict=model.state_dict(), dataset=dataset_spec("digits").record(),
        teacher={"path": "model.teacher.pt", "sha256": "0" * 64}, metrics={"test_accuracy": 0.5}, seed=3,
        train_config={"lr": 0.05}, versions=versions(), mode=mode,
    )


def test_saved_checkpoint_rebuilds_a_model_with_identical_outputs(tmp_path):
    model, ckpt = _checkpoint()
    path = tmp_path / "model.pt"
    sha = save_checkpoint(ckpt, path)
    assert sha == file_sha256(path) and len(sha) == 64
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # the temporary file was renamed away
    loaded = load_checkpoint(path)
    assert (loaded.arch, loaded.timesteps, loaded.repact, loaded.seed, loaded.mode) == ("digits_cnn", 2, True, 3, "snn")
    assert loaded.dataset["normalization"] == {"mean": [0.0], "std": [16.0]}
    rebuilt = build_model_from_checkpoint(loaded)
    x = repeat_over_time(torch.rand(5, 1, 8, 8), 2)
    model.eval()
    # Same weights, same ops: bit-identical logits.
    assert torch.equal(rebuilt(x).logits, model(x).logits)


def test_checkpoint_file_holds_the_design_keys():
    _, ckpt = _checkpoint()
    keys = set(ckpt.to_dict())
    assert {"format", "format_version", "arch", "arch_kwargs", "neuron", "timesteps", "repact", "state_dict",
            "teacher", "dataset", "metrics", "seed", "train_config", "versions"} <= keys


def test_unknown_format_version_is_refused(tmp_path):
    _, ckpt = _checkpoint()
    payload = ckpt.to_dict()
    payload["format_version"] = 2
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match=r"future\.pt: unknown checkpoint format_version 2"):
        load_checkpoint(tmp_path / "future.pt")


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path("/tmp/enof-hostile-checkpoint-ran"),))


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    marker = Path("/tmp/enof-hostile-checkpoint-ran")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.pt"
    torch.save({"format": "enof-model", "payload": _RunsCode()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a readable enof checkpoint") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()
    # A raw (non-zip) pickle with a code-running reduce is refused the same way.
    path.write_bytes(pickle.dumps(_RunsCode()))
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_and_missing_files_name_the_file(tmp_path):
    _, ckpt = _checkpoint()
    path = tmp_path / "model.pt"
    save_checkpoint(ckpt, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"model\.pt: not a readable enof checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"absent\.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_other_formats_and_wrong_field_types_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an enof model checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    _, ckpt = _checkpoint()
    payload = ckpt.to_dict()
    payload["timesteps"] = "2"
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="field 'timesteps' has type str"):
        load_checkpoint(tmp_path / "bad.pt")


def test_state_dict_of_another_arch_does_not_rebuild(tmp_path):
    _, ckpt = _checkpoint()
    ckpt.arch_kwargs = {"num_classes": 10, "in_channels": 1, "width": 8}
    with pytest.raises(CheckpointError, match="does not rebuild"):
        build_model_from_checkpoint(ckpt)


def test_teacher_checkpoint_rebuilds_as_relu_ann():
    _, ckpt = _checkpoint(mode="ann", repact=False)
    ann = build_model_from_checkpoint(ckpt, mode="ann")
    assert ann.mode == "ann"
    assert not any(type(m).__name__ == "LIF" for m in ann.modules())
