"""EnOF losses: L_AF and KD against a numpy computation, and where their gradients go."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from enof.trainer.losses import (
    DistillConfig,
    ce_time_averaged,
    enof_loss,
    kd_loss,
    laf_loss,
)
from enof.trainer.models import build_model, repeat_over_time

# float64 on both sides: the only differences are summation order, far below 1e-10.
ATOL = 1e-10


def numpy_distill(student_logits, teacher_logits, tau):
    """τ² · mean_b Σ_k p_t log(p_t / p_s), p = softmax(z / τ)."""

    def softmax(z):
        e = np.exp(z / tau - (z / tau).max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    p_s, p_t = softmax(student_logits), softmax(teacher_logits)
    return tau**2 * np.mean(np.sum(p_t * np.log(p_t / p_s), axis=1))


def make_fc(features=6, classes=4, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(features, classes).double()


def test_laf_matches_numpy_through_teacher_classifier():
    fc = make_fc()
    torch.manual_seed(1)
    f_snn, f_ann = torch.randn(5, 6).double(), torch.randn(5, 6).double()
    w, b = fc.weight.detach().numpy(), fc.bias.detach().numpy()
    expected = numpy_distill(f_snn.numpy() @ w.T + b, f_ann.numpy() @ w.T + b, tau=20.0)
    got = laf_loss(f_snn, f_ann, fc, tau=20.0)
    assert expected > 0
    assert abs(got.item() - expected) < ATOL


def test_laf_is_zero_for_equal_features_and_positive_otherwise():
    fc = make_fc()
    f = torch.randn(3, 6).double()
    assert abs(laf_loss(f, f.clone(), fc).item()) < 1e-12
    assert laf_loss(f, f + 0.5 * torch.randn(3, 6).double(), fc).item() > 0


def test_laf_feature_gradient_matches_closed_form():
    # d/d f_snn of τ²·mean_b KL = (τ/B) · (p_s − p_t) W, with p = softmax(fc(f)/τ).
    fc, tau = make_fc(), 4.0
    f_snn = torch.randn(5, 6).double().requires_grad_(True)
    f_ann = torch.randn(5, 6).double()
    laf_loss(f_snn, f_ann, fc, tau).backward()
    with torch.no_grad():
        p_s = torch.softmax(fc(f_snn) / tau, 1)
        p_t = torch.softmax(fc(f_ann) / tau, 1)
        expected = (tau / 5) * (p_s - p_t) @ fc.weight
    torch.testing.assert_close(f_snn.grad, expected, atol=ATOL, rtol=0)


def test_laf_gradient_reaches_snn_backbone_and_never_the_teacher():
    torch.manual_seed(0)
    snn = build_model("digits_cnn", timesteps=2, width=4)
    teacher = build_model("digits_cnn", mode="ann", width=4)  # requires_grad left on on purpose
    x = torch.rand(6, 1, 8, 8) * 8
    with torch.no_grad():
        teacher_out = teacher(repeat_over_time(x, 1))
    # a forward with grad enabled through the teacher too, to prove laf_loss itself cuts it
    teacher_feature_live = teacher(repeat_over_time(x, 1)).feature
    student = snn(repeat_over_time(x, 2))
    assert student.feature.abs().sum() > 0, "no spikes reach the pool: nothing to test"

    loss = laf_loss(student.feature, teacher_feature_live, teacher.fc)
    detached = laf_loss(student.feature, teacher_out.feature, teacher.fc)
    assert loss.item() > 0
    assert abs(loss.item() - detached.item()) < 1e-6  # float32, same ops
    loss.backward()

    assert all(p.grad is None for p in teacher.parameters())
    convs = [m for m in snn.backbone if isinstance(m, torch.nn.Conv2d)]
    assert all(c.weight.grad is not None and c.weight.grad.abs().sum() > 0 for c in convs)
    assert snn.fc.weight.grad is None  # L_AF uses the teacher's classifier, not the SNN's


def test_kd_matches_numpy_and_is_zero_for_equal_logits():
    torch.manual_seed(2)
    s, t = torch.randn(4, 10).double(), torch.randn(4, 10).double()
    expected = numpy_distill(s.numpy(), t.numpy(), tau=3.0)
    assert abs(kd_loss(s, t).item() - expected) < ATOL
    assert abs(kd_loss(s, s.clone()).item()) < 1e-12


def test_kd_gives_no_gradient_to_teacher_logits():
    s = torch.randn(4, 10, requires_grad=True)
    t = torch.randn(4, 10, requires_grad=True)
    kd_loss(s, t).backward()
    assert t.grad is None
    assert s.grad.abs().sum() > 0


def test_ce_time_averaged_averages_logits_over_time():
    torch.manual_seed(3)
    logits = torch.randn(3, 5, 4)
    labels = torch.tensor([0, 1, 2, 3, 0])
    torch.testing.assert_close(
        ce_time_averaged(logits, labels), F.cross_entropy(logits.mean(0), labels)
    )
    torch.testing.assert_close(
        ce_time_averaged(logits[0], labels), F.cross_entropy(logits[0], labels)
    )


def test_enof_loss_combines_ce_and_weighted_distillation():
    torch.manual_seed(4)
    snn = build_model("digits_cnn", timesteps=2, width=4)
    teacher = build_model("digits_cnn", mode="ann", width=4)
    x, y = torch.rand(6, 1, 8, 8) * 8, torch.arange(6)
    student = snn(repeat_over_time(x, 2))
    with torch.no_grad():
        teacher_out = teacher(repeat_over_time(x, 1))
    ce = F.cross_entropy(student.logits, y)

    laf = enof_loss(student, y, teacher_out, teacher.fc)  # defaults: laf, λ = 0.1, τ = 20
    laf_direct = laf_loss(student.feature, teacher_out.feature, teacher.fc, tau=20.0)
    torch.testing.assert_close(laf.ce, ce)
    torch.testing.assert_close(laf.distill, laf_direct)
    torch.testing.assert_close(laf.total, ce + 0.1 * laf_direct)

    kd = enof_loss(student, y, teacher_out, config=DistillConfig("kd", weight=0.5))
    torch.testing.assert_close(kd.total, ce + 0.5 * kd_loss(student.logits, teacher_out.logits, 3.0))

    plain = enof_loss(student, y, config=DistillConfig("none"))
    assert plain.distill.item() == 0.0
    torch.testing.assert_close(plain.total, ce)

    with pytest.raises(ValueError, match="teacher"):
        enof_loss(student, y, config=DistillConfig("laf"))
    with pytest.raises(ValueError, match="teacher_fc"):
        enof_loss(student, y, teacher_out, config=DistillConfig("laf"))
    with pytest.raises(ValueError, match="method"):
        DistillConfig("mse")
