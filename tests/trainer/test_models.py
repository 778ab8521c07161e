"""EnofNet architectures: parameter counts by hand, shapes, SNN/ANN module types, RepAct place."""

import pytest
import torch
from torch import nn

from enof.errors import EnofError
from enof.trainer.models import ARCHITECTURES, BasicBlock, ModelOutput, build_model, repeat_over_time
from enof.trainer.neurons import LIF, RepActReLU


def conv(cin, cout, k):  # bias-free convolution
    return cin * cout * k * k


def bn(c):  # weight and bias; running stats are buffers
    return 2 * c


def fc(fin, fout):
    return fin * fout + fout


def block(cin, cout, downsample):
    shortcut = conv(cin, cout, 1) + bn(cout) if downsample else 0
    return conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3) + bn(cout) + shortcut


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_digits_cnn_parameter_count_matches_design_table():
    # conv3×3 1→32 + BN; conv3×3/2 32→64 + BN; conv3×3 64→64 + BN; fc 64→10 (design.md §3)
    expected = conv(1, 32, 3) + bn(32) + conv(32, 64, 3) + bn(64) + conv(64, 64, 3) + bn(64)
    expected += fc(64, 10)
    assert expected == 56554
    assert n_params(build_model("digits_cnn")) == expected
    assert n_params(build_model("digits_cnn", mode="ann")) == expected


def test_resnet20_stage_and_total_parameter_counts():
    model = build_model("resnet20", timesteps=1)
    # backbone: 3 × (conv, BN, act) = 9 modules, AvgPool at 9, blocks from 10, two per stage
    stage2 = model.backbone[12:14]
    assert n_params(stage2) == block(64, 128, True) + block(128, 128, False) == 525568
    stem = conv(3, 64, 3) + bn(64) + 2 * (conv(64, 64, 3) + bn(64))
    stages = sum(
        block(cin, cout, cin != cout) + block(cout, cout, False)
        for cin, cout in [(64, 64), (64, 128), (128, 256), (256, 512)]
    )
    assert n_params(model) == stem + stages + fc(512, 10) == 11247946


def test_resnet19_parameter_count():
    stem = conv(3, 128, 3) + bn(128)
    stages = 3 * block(128, 128, False)
    stages += block(128, 256, True) + 2 * block(256, 256, False)
    stages += block(256, 512, True) + block(512, 512, False)
    assert n_params(build_model("resnet19", timesteps=1)) == stem + stages + fc(512, 10)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_output_shapes_at_the_architecture_input_shape(arch):
    torch.manual_seed(0)
    model = build_model(arch, timesteps=1, num_classes=7)
    x = repeat_over_time(torch.randn(2, *ARCHITECTURES[arch].input_shape), 1)
    out = model(x)
    assert isinstance(out, ModelOutput)
    assert out.logits.shape == (2, 7)
    assert out.feature.shape == (2, model.fc.in_features)


def test_resnet20_dvs_takes_two_polarity_channels_at_48px():
    model = build_model("resnet20_dvs", timesteps=2)
    assert model.backbone[0].in_channels == 2
    maps = model.backbone(torch.rand(2 * 1, 2, 48, 48))  # T·B = 2
    assert maps.shape == (2, 512, 3, 3)


def test_snn_has_only_lif_and_ann_only_relu():
    for arch, n_acts in [("digits_cnn", 3), ("resnet20", 3 + 2 * 8), ("resnet19", 1 + 2 * 8)]:
        snn = build_model(arch, mode="snn", timesteps=2)
        ann = build_model(arch, mode="ann")
        assert sum(isinstance(m, LIF) for m in snn.modules()) == n_acts
        assert not any(isinstance(m, nn.ReLU) for m in snn.modules())
        assert sum(type(m) is nn.ReLU for m in ann.modules()) == n_acts
        assert not any(isinstance(m, LIF) for m in ann.modules())
        # homogeneous teacher: the same parameter names and shapes
        assert {k: v.shape for k, v in snn.state_dict().items()} == {
            k: v.shape for k, v in ann.state_dict().items()
        }
        assert all(m.timesteps == 2 for m in snn.modules() if isinstance(m, LIF))


@pytest.mark.parametrize("mode", ["snn", "ann"])
def test_repact_replaces_exactly_the_last_activation(mode):
    digits = build_model("digits_cnn", mode=mode, repact=True)
    assert isinstance(digits.backbone[8], RepActReLU)
    assert [type(m) for m in digits.modules()].count(RepActReLU) == 1

    resnet = build_model("resnet20", mode=mode, repact=True, timesteps=1)
    last_block = resnet.backbone[-1]
    assert isinstance(last_block, BasicBlock) and isinstance(last_block.act2, RepActReLU)
    assert not isinstance(last_block.act1, RepActReLU)
    assert [type(m) for m in resnet.modules()].count(RepActReLU) == 1

    plain = build_model("resnet20", mode=mode, repact=False, timesteps=1)
    assert not any(isinstance(m, RepActReLU) for m in plain.modules())


def test_basic_block_shortcuts():
    resnet = build_model("resnet20", timesteps=1)
    identity, downsample = resnet.backbone[10], resnet.backbone[12]
    assert len(identity.shortcut) == 0
    pool, conv1x1, norm = downsample.shortcut
    assert isinstance(pool, nn.AvgPool2d) and pool.kernel_size == 2
    assert conv1x1.kernel_size == (1, 1) and conv1x1.bias is None
    assert isinstance(norm, nn.BatchNorm2d)
    assert downsample.conv1.stride == (2, 2)
    x = torch.rand(2, 64, 16, 16)
    assert downsample(x).shape == (2, 128, 8, 8)


def test_basic_block_forward_is_act_after_residual_sum():
    torch.manual_seed(0)
    block_ = BasicBlock(4, 8, 2, nn.ReLU(), nn.Identity()).eval()
    x = torch.randn(3, 4, 6, 6)
    main = block_.bn2(block_.conv2(torch.relu(block_.bn1(block_.conv1(x)))))
    torch.testing.assert_close(block_(x), main + block_.shortcut(x), rtol=0, atol=0)


def test_snn_samples_do_not_mix_across_the_folded_batch():
    # A wrong (B, T) vs (T, B) fold would make one sample's output depend on the others.
    torch.manual_seed(0)
    model = build_model("digits_cnn", timesteps=3).eval()
    x = repeat_over_time(torch.rand(4, 1, 8, 8) * 4, 3)
    together = model(x)
    for b in range(4):
        alone = model(x[:, b : b + 1])
        torch.testing.assert_close(alone.logits, together.logits[b : b + 1], atol=1e-5, rtol=0)
    assert together.feature.abs().sum() > 0, "no spikes: the test would prove nothing"


def test_feature_is_time_mean_and_logits_are_fc_of_feature():
    # ANN: the same image at every step gives the same per-step feature, so T = 3 equals T = 1.
    torch.manual_seed(0)
    ann = build_model("digits_cnn", mode="ann").eval()
    image = torch.rand(2, 1, 8, 8)
    one, three = ann(repeat_over_time(image, 1)), ann(repeat_over_time(image, 3))
    torch.testing.assert_close(three.feature, one.feature, atol=1e-6, rtol=0)
    torch.testing.assert_close(three.logits, ann.fc(three.feature), atol=0, rtol=0)
    # SNN with T = 2: feature is the mean of the two per-step pooled spike maps.
    snn = build_model("digits_cnn", timesteps=2).eval()
    x = repeat_over_time(image * 8, 2)
    maps = snn.backbone(x.reshape(4, 1, 8, 8)).mean(dim=(2, 3)).reshape(2, 2, -1)
    torch.testing.assert_close(snn(x).feature, maps.mean(0), atol=1e-7, rtol=0)


def test_wrong_input_is_refused_with_the_reason():
    model = build_model("digits_cnn", timesteps=4)
    with pytest.raises(ValueError, match="T=4"):
        model(torch.zeros(2, 1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(T, B, C, H, W\)"):
        model(torch.zeros(1, 1, 8, 8))
    with pytest.raises(EnofError, match="unknown architecture 'resnet50'"):
        build_model("resnet50")
    with pytest.raises(EnofError, match="depth"):
        build_model("digits_cnn", depth=3)


def test_arch_kwargs_change_the_network():
    model = build_model("digits_cnn", width=8, num_classes=3, in_channels=2)
    assert model.backbone[0].in_channels == 2 and model.backbone[0].out_channels == 8
    assert model.fc.in_features == 16 and model.fc.out_features == 3


def test_repeat_over_time_repeats_the_image():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    y = repeat_over_time(x, 4)
    assert y.shape == (4, 1, 1, 2, 3)
    assert all(torch.equal(y[t], x) for t in range(4))
