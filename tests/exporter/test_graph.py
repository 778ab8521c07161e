"""Graph capture: folding (BN, AvgPool) checked numerically against PyTorch, shortcuts, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from enof.errors import UnsupportedModuleError
from enof.exporter.graph import LifNode, WeightNode, capture, fold_avgpool_into_conv, fold_batchnorm
from enof.exporter.replay import Replay
from enof.trainer.models import repeat_over_time

DIGITS_SHAPE, CIFAR_SHAPE = (1, 8, 8), (3, 32, 32)
# float32 convolutions summed in a different order: ~1e-6 relative; 1e-5 leaves margin, not slack.
TOL = 1e-5


def test_batchnorm_fold_matches_conv_then_batchnorm_in_pytorch():
    torch.manual_seed(1)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=True)
    bn = nn.BatchNorm2d(5)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.2, 3)
    bn.weight.data.uniform_(-2, 2)
    bn.bias.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(4, 3, 6, 6)
    w, b = fold_batchnorm(conv.weight.detach().double().numpy(), conv.bias.detach().double().numpy(), bn)
    folded = nn.functional.conv2d(x.double(), torch.from_numpy(w), torch.from_numpy(b), padding=1)
    assert torch.allclose(folded.float(), bn(conv(x)), atol=TOL)


def test_batchnorm_fold_keeps_eps_for_a_near_zero_running_variance():
    # var = 1e-4 against eps = 1e-5: a fold without eps scales by 1/sqrt(1e-4) instead of
    # 1/sqrt(1.1e-4), ~5 % off. Both sides in float64, so 1e-9 is rounding (~1e-13 here), not slack.
    torch.manual_seed(3)
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=True).double()
    bn = nn.BatchNorm2d(5).double()
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.fill_(1e-4)
    bn.weight.data.uniform_(-2, 2)
    bn.bias.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(4, 3, 6, 6, dtype=torch.float64)
    w, b = fold_batchnorm(conv.weight.detach().numpy(), conv.bias.detach().numpy(), bn)
    folded = nn.functional.conv2d(x, torch.from_numpy(w), torch.from_numpy(b), padding=1)
    with torch.no_grad():
        reference = bn(conv(x))
    assert torch.allclose(folded, reference, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "pool_k, kernel, stride, padding",
    [(2, 3, 1, 1), (2, 3, 2, 1), (2, 1, 1, 0), (4, 3, 1, 1)],
)
def test_avgpool_fold_matches_avgpool_then_conv_in_pytorch(pool_k, kernel, stride, padding):
    torch.manual_seed(2)
    conv = nn.Conv2d(4, 6, kernel, stride=stride, padding=padding, bias=False)
    x = (torch.rand(3, 4, 16, 16) > 0.6).double()  # spikes, as on the chip
    ref = conv.double()(nn.AvgPool2d(pool_k)(x))
    w, s, p = fold_avgpool_into_conv(conv.weight.detach().numpy(), (stride, stride), (padding, padding), pool_k)
    assert w.shape[2:] == (kernel * pool_k, kernel * pool_k) and s == (stride * pool_k,) * 2
    out = nn.functional.conv2d(x, torch.from_numpy(w), stride=s, padding=p)
    assert out.shape == ref.shape
    assert torch.allclose(out, ref, atol=1e-12)  # float64: the two sums are the same terms


@pytest.mark.parametrize("arch, shape", [("digits_cnn", DIGITS_SHAPE), ("resnet20", CIFAR_SHAPE)])
def test_graph_replay_reproduces_the_models_logits(arch, shape, model_factory):
    """The whole captured graph (BN folded, avgpools folded, shortcuts as convs) computes the model's logits."""
    kwargs = {"width": 8} if arch == "digits_cnn" else {}
    model = model_factory(arch, repact=True, timesteps=2, **kwargs)
    graph = capture(model, shape, 2)
    x = torch.rand(2, *shape) * 2
    with torch.no_grad():
        ref = model(repeat_over_time(x, 2)).logits
        out = Replay(graph, list(graph.nodes), ["input"], [graph.output])(repeat_over_time(x, 2))
    assert torch.allclose(out, ref, atol=TOL, rtol=TOL)


def test_resnet20_shortcuts_are_explicit_convs_with_folded_pools(model_factory):
    graph = capture(model_factory("resnet20", repact=False, timesteps=1), CIFAR_SHAPE, 1)
    ident = graph.nodes["stage1.block0.shortcut"]  # first block after the stem's AvgPool(2): identity
    assert isinstance(ident, WeightNode) and ident.kind == "conv" and ident.role == "identity-shortcut"
    # the stem's AvgPool(2) folds into it: 2×2 kernel, stride 2, each tap 1/4 on the diagonal only
    assert ident.weight.shape == (64, 64, 2, 2) and ident.stride == (2, 2)
    assert np.allclose(ident.weight[np.arange(64), np.arange(64)], 0.25)
    off_diag = ident.weight.copy()
    off_diag[np.arange(64), np.arange(64)] = 0
    assert not off_diag.any()
    down = graph.nodes["stage2.block0.shortcut"]  # AvgPool(2) + conv1×1 + BN → conv 2×2 stride 2
    assert down.weight.shape[2:] == (2, 2) and down.stride == (2, 2) and down.role == "shortcut"
    join = graph.nodes["stage2.block0.act2"]
    assert isinstance(join, LifNode) and set(join.sources) == {"stage2.block0.conv2", "stage2.block0.shortcut"}


def test_unsupported_module_names_its_path_and_the_supported_set(model_factory):
    model = model_factory("digits_cnn", width=4)
    model.backbone[3] = nn.MaxPool2d(2)
    with pytest.raises(UnsupportedModuleError, match=r"backbone\.3: MaxPool2d is not supported.*supported: Conv2d"):
        capture(model, DIGITS_SHAPE, 2)


def test_avgpool_on_odd_sized_maps_is_refused_by_name(model_factory):
    model = model_factory("digits_cnn", width=4)
    model.backbone.insert(3, nn.AvgPool2d(3))  # 8×8 maps are not a multiple of 3
    with pytest.raises(UnsupportedModuleError, match=r"backbone\.4: AvgPool2d\(3\).*divisible by 3"):
        capture(model, DIGITS_SHAPE, 2)


def test_ann_teacher_is_refused():
    from enof.trainer.models import build_model

    with pytest.raises(UnsupportedModuleError, match="only spiking"):
        capture(build_model("digits_cnn", mode="ann", num_classes=10), DIGITS_SHAPE, 1)


def test_flatten_and_linear_between_spiking_layers_capture_and_replay():
    """A spiking MLP head on the chip: conv → LIF → Flatten → Linear → LIF (pool = Identity)."""
    from enof.trainer.models import EnofNet
    from enof.trainer.neurons import LIF, NeuronConfig

    torch.manual_seed(3)
    backbone = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), LIF(2),
                             nn.Flatten(), nn.Linear(256, 32), LIF(2))  # fmt: skip
    model = EnofNet(backbone, 32, 10, arch="mlp", mode="snn", repact=False, timesteps=2, neuron=NeuronConfig())
    model.pool = nn.Identity()
    model.eval()
    graph = capture(model, DIGITS_SHAPE, 2)
    assert graph.nodes["fc1"].sources == ("flatten1",) and graph.spiking_source("flatten1") == "act1"
    x = repeat_over_time(torch.rand(3, *DIGITS_SHAPE) * 2, 2)
    with torch.no_grad():
        assert torch.allclose(Replay(graph, list(graph.nodes), ["input"], ["fc"])(x), model(x).logits, atol=TOL)


def test_two_weight_layers_in_a_row_are_refused_by_name(model_factory):
    model = model_factory("digits_cnn", width=4)
    model.backbone[2] = nn.Identity()  # conv → BN → (no LIF) → conv
    with pytest.raises(UnsupportedModuleError, match=r"backbone\.3: two weight layers in a row \(backbone\.0 → backbone\.3\)"):
        capture(model, DIGITS_SHAPE, 2)
