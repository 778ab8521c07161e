"""The training loop: checkpoints with the design's keys, exact resume, frozen teacher, decay groups."""

import json
import numpy as np
import pytest
import torch
from torch import nn

from enof.errors import CheckpointError, EnofError
from enof.formats.digest import file_sha256
from enof.trainer.checkpoint import build_model_from_checkpoint, load_checkpoint, resolve_teacher_path
from torch.utils.data import TensorDataset

from enof.datasets import LoadedDataset, load_dataset
from enof.datasets.cifar_dvs import CLASSES, write_events_npz
from enof.trainer.loop import TrainConfig, train
from enof.trainer.phase import make_optimizer
from enof.trainer.models import build_model


class _Interrupt(Exception):
    pass


def _config(tmp_path, name="model.pt", **kw):
    base = dict(dataset="digits", arch="digits_cnn", timesteps=2, epochs=2, teacher_epochs=2, batch_size=32,
                lr=0.05, seed=7, out=str(tmp_path / name), arch_kwargs={"width": 8})
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def small_digits(digits):
    """256 training and 100 test images: enough to exercise every code path, fast."""
    train, test = digits.train.tensors, digits.test.tensors
    return LoadedDataset(digits.spec, TensorDataset(*(t[:256] for t in train)), TensorDataset(*(t[:100] for t in test)))


def test_one_epoch_digits_run_writes_a_loadable_checkpoint_with_the_expected_keys(tmp_path, digits):
    result = train(_config(tmp_path, epochs=1, teacher_epochs=1), data=digits)
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert (ckpt.arch, ckpt.timesteps, ckpt.repact, ckpt.seed, ckpt.mode) == ("digits_cnn", 2, True, 7, "snn")
    assert ckpt.arch_kwargs == {"num_classes": 10, "in_channels": 1, "width": 8}
    assert ckpt.dataset.input_shape == (1, 8, 8) and ckpt.dataset.std == (16.0,)
    assert ckpt.teacher == {"path": "model.teacher.pt", "sha256": file_sha256(tmp_path / "model.teacher.pt")}
    assert resolve_teacher_path(ckpt, tmp_path / "model.pt") == tmp_path / "model.teacher.pt"
    assert load_checkpoint(tmp_path / "model.teacher.pt").mode == "ann"
    assert ckpt.train_config["lr"] == 0.05 and ckpt.train_config["laf"] is True
    # One epoch of a width-8 net already beats chance (10%) by far; the recorded metric is the real one.
    assert 0.3 < ckpt.metrics["test_accuracy"] == result.test_accuracy
    assert not (tmp_path / "model.resume.pt").exists()  # removed once the run completed
    model = build_model_from_checkpoint(ckpt)
    x, y = digits.test.tensors
    correct = int((model(x.unsqueeze(0).expand(2, *x.shape)).logits.argmax(1) == y).sum())
    assert correct / len(y) == result.test_accuracy  # same data, same weights: the same count


@pytest.mark.parametrize("interrupt_at,teacher_epochs", [(("teacher", 1), 2), (("snn", 1), 2), (("teacher", 1), 3)])
def test_resume_after_interruption_ends_with_the_same_weights(tmp_path, small_digits, interrupt_at, teacher_epochs):
    """Also with --teacher-epochs other than --epochs (the resume file once recorded the teacher
    phase's epochs as the run's, and refused the same flags as 'made with other settings')."""
    kw = dict(teacher_epochs=teacher_epochs)
    reference = train(_config(tmp_path, "full.pt", **kw), data=small_digits).checkpoint.state_dict

    def stop(phase, epoch):
        if (phase, epoch) == interrupt_at:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(_config(tmp_path, "cut.pt", **kw), data=small_digits, on_epoch_end=stop)
    assert (tmp_path / "cut.resume.pt").exists() and not (tmp_path / "cut.pt").exists()
    resumed = train(_config(tmp_path, "cut.pt", resume=True, **kw), data=small_digits).checkpoint.state_dict
    assert reference.keys() == resumed.keys()
    for key in reference:  # exact: same seeds, same data order, same optimizer state
        assert torch.equal(reference[key], resumed[key]), key
    # metrics.jsonl continues: one line per epoch of both phases, none twice, as the uninterrupted run's.
    full = [json.loads(line) for line in (tmp_path / "full.metrics.jsonl").read_text().splitlines()]
    cut = [json.loads(line) for line in (tmp_path / "cut.metrics.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["epoch"]) for r in cut] == [(r["phase"], r["epoch"]) for r in full]
    assert len(cut) == teacher_epochs + 2
    assert [r["test_accuracy"] for r in cut] == [r["test_accuracy"] for r in full]


def test_resume_with_changed_settings_is_refused(tmp_path, small_digits):
    def stop(phase, epoch):
        raise _Interrupt

    with pytest.raises(_Interrupt):
        train(_config(tmp_path), data=small_digits, on_epoch_end=stop)
    with pytest.raises(CheckpointError, match=r"model\.resume\.pt: made with other settings \(lr\)"):
        train(_config(tmp_path, lr=0.01, resume=True), data=small_digits)


def test_given_teacher_is_reused_frozen_and_laf_changes_the_result(tmp_path, small_digits):
    first = train(_config(tmp_path, "a.pt", epochs=1, teacher_epochs=1), data=small_digits)
    teacher_path = tmp_path / "a.teacher.pt"
    sha_before = file_sha256(teacher_path)
    laf = train(_config(tmp_path, "b.pt", epochs=1, teacher=str(teacher_path)), data=small_digits)
    plain = train(_config(tmp_path, "c.pt", epochs=1, laf=False), data=small_digits)
    assert file_sha256(teacher_path) == sha_before == laf.checkpoint.teacher["sha256"]
    assert not (tmp_path / "b.teacher.pt").exists() and plain.checkpoint.teacher is None
    # Same seed and data order: only the λ·L_AF term differs, so the SNN weights must differ.
    w_laf, w_plain = laf.checkpoint.state_dict["fc.weight"], plain.checkpoint.state_dict["fc.weight"]
    assert not torch.equal(w_laf, w_plain)
    assert first.teacher_test_accuracy == laf.teacher_test_accuracy


def test_init_teacher_starts_the_snn_from_the_teachers_weights(tmp_path, small_digits):
    """--init teacher: after one epoch at lr 1e-8 (momentum SGD moves a weight by at most ~1e-7 here) every conv
    and classifier weight still equals the teacher's to 1e-6; a random start is nowhere near them."""
    train(_config(tmp_path, "t.pt", epochs=1, teacher_epochs=1), data=small_digits)
    teacher = load_checkpoint(tmp_path / "t.teacher.pt").state_dict
    runs = {init: train(_config(tmp_path, f"{init}.pt", epochs=1, lr=1e-8, init=init, teacher=str(tmp_path / "t.teacher.pt")),
                        data=small_digits).checkpoint for init in ("teacher", "random")}  # fmt: skip
    weights = [k for k, v in teacher.items() if k.endswith("weight") and v.dim() > 1]
    assert len(weights) >= 4  # every conv and the classifier
    for key in weights:
        torch.testing.assert_close(runs["teacher"].state_dict[key], teacher[key], rtol=0, atol=1e-6)
        assert float((runs["random"].state_dict[key] - teacher[key]).abs().max()) > 1e-2
    assert runs["teacher"].train_config["init"] == "teacher"  # recorded: a --resume must repeat it


def test_event_frames_train_through_the_loop_with_time_major_input(tmp_path):
    """CIFAR10-DVS samples (T, 2, 48, 48) are fed as (T, B, ...) to the SNN and the teacher."""
    rng = np.random.default_rng(0)
    root = tmp_path / "dvs"
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(2):
            n = 300
            write_events_npz(root / name / f"{i}.npz", np.sort(rng.integers(0, 5000, n)), rng.integers(0, 128, n),
                             rng.integers(0, 128, n), rng.integers(0, 2, n))
    result = train(_config(tmp_path, dataset="cifar10dvs", data_root=str(root), epochs=1, teacher_epochs=1,
                           batch_size=8, arch_kwargs={"width": 4}))
    ckpt = result.checkpoint
    assert ckpt.dataset.name == "cifar10dvs" and ckpt.dataset.temporal is True
    assert ckpt.arch_kwargs["in_channels"] == 2 and 0.0 <= result.test_accuracy <= 1.0
    assert len(ckpt.metrics["history"]) == 1


def test_laf_and_kd_together_and_unknown_schedule_are_user_errors(tmp_path):
    with pytest.raises(EnofError, match="--laf and --kd are alternatives"):
        train(_config(tmp_path, kd=True))
    with pytest.raises(EnofError, match="unknown schedule 'linear'"):
        train(_config(tmp_path, schedule="linear"))


def test_weight_decay_applies_to_conv_and_linear_weights_only():
    model = build_model("digits_cnn", mode="snn", timesteps=2, num_classes=10, in_channels=1, width=4)
    optimizer = make_optimizer(model, TrainConfig(weight_decay=1e-3, lr=0.1, optimizer="sgd"))
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    assert optimizer.param_groups[0]["weight_decay"] == 1e-3 and optimizer.param_groups[1]["weight_decay"] == 0
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            assert id(module.weight) in decayed
        if isinstance(module, nn.BatchNorm2d):
            assert id(module.weight) not in decayed and id(module.bias) not in decayed
    assert id(model.fc.bias) not in decayed


def test_train_and_test_limits_take_stratified_subsets(tmp_path, digits):
    result = train(_config(tmp_path, epochs=1, teacher_epochs=0, laf=False, train_limit=100, test_limit=50), data=digits)
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    # 50 test images: the accuracy is a multiple of 1/50; 100 training images in batches of 32 → 4 steps.
    assert round(result.test_accuracy * 50, 9) == int(round(result.test_accuracy * 50))
    assert record["phase"] == "snn" and record["epoch"] == 1 and record["lr"] == 0.05


def test_paper_recipe_sets_the_groups_cifar_settings_and_is_refused_for_digits(tmp_path):
    paper = TrainConfig(dataset="cifar10", arch="resnet20", recipe="paper", out=str(tmp_path / "m.pt")).resolved()
    assert (paper.epochs, paper.teacher_epochs, paper.lr, paper.batch_size, paper.weight_decay) == (400, 400, 0.1, 128, 1e-4)
    assert (paper.schedule, paper.optimizer, paper.lam, paper.distill.effective_tau) == ("cosine", "sgd", 0.1, 20.0)
    assert TrainConfig(dataset="cifar10", recipe="paper", epochs=3, out="m.pt").resolved().epochs == 3  # flags win
    with pytest.raises(EnofError, match="--recipe paper: the EnOF group's recipe is for cifar10, cifar100; digits has --recipe quick"):
        TrainConfig(recipe="paper").resolved()


def test_mnist5k_recipe_starts_the_snn_from_its_teacher_and_others_from_random(tmp_path):
    mnist = TrainConfig(dataset="mnist5k", arch="mnist_cnn", out=str(tmp_path / "m.pt")).resolved()
    assert (mnist.init, mnist.teacher_epochs, mnist.epochs) == ("teacher", 20, 20)
    assert TrainConfig(dataset="mnist5k", init="random", out="m.pt").resolved().init == "random"  # the flag wins
    assert TrainConfig(out="m.pt").resolved().init == "random"  # digits


def test_init_teacher_without_distillation_trains_a_teacher_for_the_start_alone(tmp_path, small_digits):
    """The ablation's baseline on mnist5k's recipe: the SNN starts from a teacher, then trains on CE alone."""
    run = train(_config(tmp_path, epochs=1, teacher_epochs=1, laf=False, init="teacher"), data=small_digits)
    assert run.teacher_path == tmp_path / "model.teacher.pt" and run.teacher_path.is_file()
    assert run.checkpoint.train_config["laf"] is False and run.checkpoint.teacher is not None


def test_cifar_augmentation_runs_in_workers_and_is_repeatable(tmp_path):
    """AutoAugment + Cutout in 2 worker processes: seeded from the loader's generator, so the same
    seed gives the same weights."""
    from enof.datasets.cifar import write_cifar10

    write_cifar10(tmp_path / "cifar", per_batch=8)
    kw = dict(dataset="cifar10", data_root=str(tmp_path / "cifar"), arch="digits_cnn", arch_kwargs={"width": 4},
              epochs=1, teacher_epochs=0, laf=False, batch_size=8, workers=2, timesteps=1)
    first = train(_config(tmp_path, "a.pt", **kw)).checkpoint.state_dict
    again = train(_config(tmp_path, "b.pt", **kw)).checkpoint.state_dict
    for key in first:
        assert torch.equal(first[key], again[key]), key
    assert load_checkpoint(tmp_path / "a.pt").train_config["workers"] == 2
