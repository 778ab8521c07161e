"""model.pt round-trips exactly; anything else (a damaged file, non-finite weights, a missing or out-of-range
field) is refused with a one-line CheckpointError naming the file and the field."""

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from enof.errors import CheckpointError
from enof.formats.digest import file_sha256
from enof.trainer.checkpoint import (
    Checkpoint,
    build_model_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
    write_checkpoint_payload,
    state_dict_sha256,
    versions,
)
from enof.datasets import dataset_spec
from enof.trainer.models import build_model, repeat_over_time
from enof.trainer.neurons import NeuronConfig


def _checkpoint(mode="snn", repact=True):
    torch.manual_seed(0)
    model = build_model("digits_cnn", mode=mode, repact=repact, timesteps=2, neuron=NeuronConfig(),
                        num_classes=10, in_channels=1)
    return model, Checkpoint(
        arch="digits_cnn", arch_kwargs={"num_classes": 10, "in_channels": 1}, neuron=NeuronConfig().to_dict(),
        timesteps=2, repact=repact, state_dict=model.state_dict(), dataset=dataset_spec("digits"),
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
    assert (loaded.dataset.mean, loaded.dataset.std) == ((0.0,), (16.0,))
    assert loaded.dataset.record() == dataset_spec("digits").record()  # the record reads back as it was written
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


# --- issue 15: the content digest, finite weights, nested fields -------------------------------------------


def _saved(tmp_path, name="model.pt", change=None):
    """A checkpoint written by save_checkpoint (its digest matches), after `change(payload_dict)`."""
    _, ckpt = _checkpoint()
    path = tmp_path / name
    if change is None:
        save_checkpoint(ckpt, path)
        return path
    payload = ckpt.to_dict()  # the fields as they go on disk, the data set as its record
    change(payload)
    write_checkpoint_payload(payload, path)
    return path


def _refused(path, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def _flip_a_weight_byte(path, name="backbone.0.weight"):
    """Flip the lowest bit of one byte inside the stored bytes of tensor `name` (torch stores them raw)."""
    stored = torch.load(path, weights_only=True)["state_dict"][name].numpy().tobytes()
    data = bytearray(path.read_bytes())
    at = data.find(stored)
    assert at > 0 and data.find(stored, at + 1) < 0
    data[at + len(stored) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_untouched_checkpoint_stores_the_digest_of_its_state_dict_and_loads(tmp_path):
    path = _saved(tmp_path)
    raw = torch.load(path, weights_only=True)
    assert raw["state_dict_sha256"] == state_dict_sha256(raw["state_dict"]) and len(raw["state_dict_sha256"]) == 64
    assert torch.equal(load_checkpoint(path).state_dict["backbone.0.weight"], raw["state_dict"]["backbone.0.weight"])


def test_digest_covers_names_dtypes_shapes_and_bytes_not_the_dict_order_or_strides():
    weight = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    one_ulp = weight.clone()
    one_ulp[1, 2] = torch.nextafter(one_ulp[1, 2], torch.tensor(10.0))
    base = state_dict_sha256({"a": weight, "b": torch.tensor(3)})
    assert state_dict_sha256({"b": torch.tensor(3), "a": weight.clone()}) == base
    assert state_dict_sha256({"a": weight.t().contiguous().t(), "b": torch.tensor(3)}) == base
    for changed in ({"c": weight, "b": torch.tensor(3)}, {"a": weight.double(), "b": torch.tensor(3)},
                    {"a": weight.reshape(3, 2), "b": torch.tensor(3)}, {"a": one_ulp, "b": torch.tensor(3)}):  # fmt: skip
        assert state_dict_sha256(changed) != base


def test_a_flipped_byte_in_the_weights_is_refused_naming_the_file(tmp_path):
    path = _saved(tmp_path)
    before = torch.load(path, weights_only=True)["state_dict"]["backbone.0.weight"]
    _flip_a_weight_byte(path)
    # What the digest is for: torch's zip reader checks no CRC and loads the changed weight.
    after = torch.load(path, weights_only=True)["state_dict"]["backbone.0.weight"]
    assert not torch.equal(before, after)
    _refused(path, "the weights do not match the checkpoint's state_dict_sha256", "damaged or changed")


def test_random_byte_flips_anywhere_never_load_changed_weights(tmp_path):
    original = _saved(tmp_path, "original.pt")
    data, weights = original.read_bytes(), load_checkpoint(original).state_dict
    rng = np.random.default_rng(15)
    path, refused = tmp_path / "flipped.pt", 0
    for position in rng.integers(0, len(data), 200):
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(flipped))
        try:
            loaded = load_checkpoint(path)
        except CheckpointError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            refused += 1
            continue
        # Loaded: the flip hit padding, the zip's bookkeeping or a metadata value still in range.
        assert loaded.state_dict.keys() == weights.keys()
        assert all(torch.equal(loaded.state_dict[k], weights[k]) for k in weights), position
    assert refused > 100  # most of the file is weights


def test_checkpoint_written_before_the_digest_existed_loads(tmp_path):
    model, ckpt = _checkpoint()
    payload = ckpt.to_dict()  # what save_checkpoint wrote before the field: no state_dict_sha256
    assert "state_dict_sha256" not in payload
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert torch.equal(loaded.state_dict["backbone.0.weight"], model.state_dict()["backbone.0.weight"])
    save_checkpoint(loaded, tmp_path / "resaved.pt")  # saving it again adds the digest
    assert torch.load(tmp_path / "resaved.pt", weights_only=True)["state_dict_sha256"] == state_dict_sha256(loaded.state_dict)


def test_a_digest_that_is_not_a_string_is_refused(tmp_path):
    _, ckpt = _checkpoint()
    payload = {**ckpt.to_dict(), "state_dict_sha256": 7}
    torch.save(payload, tmp_path / "odd.pt")
    _refused(tmp_path / "odd.pt", "state_dict_sha256")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused_naming_the_tensor(tmp_path, value):
    def poison(payload):
        payload["state_dict"]["backbone.0.weight"][0, 0, 1, 1] = value

    _refused(_saved(tmp_path, change=poison), "state_dict tensor 'backbone.0.weight' holds 1 non-finite value(s)")


def test_negative_batchnorm_variance_is_refused_naming_the_tensor(tmp_path):
    def negative(payload):
        payload["state_dict"]["backbone.1.running_var"][3] = -1.0

    _refused(_saved(tmp_path, change=negative), "tensor 'backbone.1.running_var' holds 1 negative variance(s)")


@pytest.mark.parametrize("tensor", [torch.eye(3).to_sparse(), torch.quantize_per_tensor(torch.rand(3), 0.1, 0, torch.qint8)])
def test_sparse_or_quantized_tensors_are_refused_naming_the_entry(tmp_path, tensor):
    _, ckpt = _checkpoint()
    payload = ckpt.to_dict()
    payload["state_dict"]["extra"] = tensor
    torch.save(payload, tmp_path / "odd.pt")
    _refused(tmp_path / "odd.pt", "state_dict entry 'extra' is not a dense tensor named by a string")


def _without(*keys):
    def change(payload):
        record = payload
        for key in keys[:-1]:
            record = record[key]
        del record[keys[-1]]

    return change


def _setting(value, *keys):
    def change(payload):
        record = payload
        for key in keys[:-1]:
            record = record[key]
        record[keys[-1]] = value

    return change


@pytest.mark.parametrize("change, expected", [
    (_without("neuron", "decay"), "field 'neuron.decay' is missing"),
    (_without("neuron", "surrogate_alpha"), "field 'neuron.surrogate_alpha' is missing"),
    (_setting(1.5, "neuron", "decay"), "field 'neuron.decay' must be in [0, 1), got 1.5"),
    (_setting(10**400, "neuron", "decay"), "field 'neuron.decay' must be a finite number, got an integer of 1329 bits"),
    (_setting(float("nan"), "neuron", "decay"), "field 'neuron.decay' must be a finite number, got nan"),
    (_setting(float("inf"), "neuron", "v_threshold"), "field 'neuron.v_threshold' must be a finite number, got inf"),
    (_setting(-0.5, "neuron", "v_threshold"), "field 'neuron.v_threshold' must be > 0, got -0.5"),
    (_setting("box", "neuron", "surrogate"), "field 'neuron.surrogate' must be one of ('rect', 'tanh'), got 'box'"),
    (_setting("0.25", "neuron", "decay"), "field 'neuron.decay' must be a finite number, got '0.25'"),
    (_setting(1.0, "neuron", "gain"), "field 'neuron.gain' is not a neuron parameter"),
    (_without("dataset", "input_shape"), "field 'dataset.input_shape' is missing"),
    (_without("dataset", "normalization"), "field 'dataset.normalization' is missing"),
    (_without("dataset", "name"), "field 'dataset.name' is missing"),
    (_without("dataset", "num_classes"), "field 'dataset.num_classes' is missing"),
    (_without("dataset", "normalization", "std"), "field 'dataset.normalization.std' is missing"),
    (_setting([1, 8], "dataset", "input_shape"), "field 'dataset.input_shape' must be 3 positive integers [C, H, W], got [1, 8]"),
    (_setting([1, 0, 8], "dataset", "input_shape"), "must be 3 positive integers"),
    (_setting([1.0, 8, 8], "dataset", "input_shape"), "must be 3 positive integers"),
    (_setting(1, "dataset", "num_classes"), "field 'dataset.num_classes' must be an integer >= 2, got 1"),
    (_setting([1, 10**6, 10**6], "dataset", "input_shape"), "field 'dataset.input_shape' is [1, 1000000, 1000000], but digits has [1, 8, 8]"),
    (_setting(7, "dataset", "num_classes"), "field 'dataset.num_classes' is 7, but digits has 10"),
    (_setting([0.0, 0.0], "dataset", "normalization", "mean"), "'dataset.normalization.mean' must be 1 finite number(s), one per input channel"),
    (_setting([float("nan")], "dataset", "normalization", "std"), "'dataset.normalization.std' must be 1 finite number(s)"),
    (_setting([0.0], "dataset", "normalization", "std"), "'dataset.normalization.std' must be > 0 in every channel, got [0.0]"),
    (_setting("yes", "dataset", "temporal"), "'dataset.temporal' must be true or false"),
    (_setting(0, "timesteps"), "field 'timesteps' must be >= 1, got 0"),
    (_setting("resnet99", "arch"), "field 'arch' is 'resnet99', not one of digits_cnn"),
    (_setting(4, "arch_kwargs", "depth"), "field 'arch_kwargs.depth' is not an argument of digits_cnn (it takes num_classes, in_channels, width)"),
    (_setting(0, "arch_kwargs", "width"), "field 'arch_kwargs.width' must be a positive integer, got 0"),
    (_setting(100, "arch_kwargs", "num_classes"), "field 'arch_kwargs.num_classes' is 100, but dataset.num_classes is 10"),
    (_setting(3, "arch_kwargs", "in_channels"), "field 'arch_kwargs.in_channels' is 3, but dataset.input_shape[0] is 1"),
    (_setting({"path": "model.teacher.pt"}, "teacher"), "field 'teacher.sha256' is missing"),
    (_setting({"path": "t.pt", "sha256": "xyz"}, "teacher"), "field 'teacher.sha256' must be 64 lowercase hex digits"),
])  # fmt: skip
def test_nested_fields_are_checked_naming_file_field_and_allowed_range(tmp_path, change, expected):
    _refused(_saved(tmp_path, change=change), expected)


def test_valid_edges_of_the_nested_fields_load(tmp_path):
    def edges(payload):
        payload["neuron"]["decay"] = 0  # an int, at the closed end of [0, 1)
        payload["dataset"].pop("temporal")  # absent: static input
        payload["arch_kwargs"].pop("in_channels")  # digits_cnn's default, 1, agrees with the data set
        payload["teacher"] = None

    loaded = load_checkpoint(_saved(tmp_path, change=edges))
    assert loaded.neuron["decay"] == 0 and loaded.dataset.temporal is None and loaded.teacher is None
    assert "temporal" not in loaded.dataset.record()  # written back as it was read


def _event_record(input_shape):
    def change(payload):
        from enof.datasets import dataset_spec

        payload["dataset"] = {**dataset_spec("nmnist").record(), "input_shape": input_shape}
        payload["arch_kwargs"]["in_channels"] = 2
    return change


def test_an_event_data_set_may_be_binned_to_any_frame_size_within_the_limit(tmp_path):
    """enof-train --frame-size: N-MNIST at 17×17 (its own frames are 34×34) loads; a side past 1,024 does not."""
    assert load_checkpoint(_saved(tmp_path, change=_event_record([2, 17, 17]))).dataset.input_shape == (2, 17, 17)
    _refused(_saved(tmp_path, "big.pt", change=_event_record([2, 2000, 17])),
             "field 'dataset.input_shape' is [2, 2000, 17]; expected [2, H, W] with H and W from 1 to 1024")
