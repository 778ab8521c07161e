"""Readable layer names: a plain CNN without prefix, ResNet stems and stages split where a block changes
shape, and the module path of every node kept beside its name."""

from __future__ import annotations

from enof.exporter.graph import capture
from enof.exporter.names import BlockSeen, readable_names


def test_plain_cnn_is_conv_act_numbered_with_the_head_as_pool_and_fc(model_factory):
    graph = capture(model_factory("digits_cnn", repact=True, width=4), (1, 8, 8), 2)
    assert list(graph.nodes) == ["conv1", "act1", "conv2", "act2", "conv3", "act3", "pool", "fc"]
    assert graph.module_paths == {
        "conv1": "backbone.0", "act1": "backbone.2", "conv2": "backbone.3", "act2": "backbone.5",
        "conv3": "backbone.6", "act3": "backbone.8", "pool": "pool", "fc": "fc",
    }  # fmt: skip
    assert graph.nodes["act2"].sources == ("conv2",) and graph.output == "fc"


def test_resnet20_has_a_stem_and_four_stages_of_two_blocks(model_factory):
    graph = capture(model_factory("resnet20", repact=False, timesteps=1), (3, 32, 32), 1)
    stem = [n for n in graph.nodes if n.startswith("stem.")]
    assert stem == ["stem.conv1", "stem.act1", "stem.conv2", "stem.act2", "stem.conv3", "stem.act3"]
    blocks = sorted({n.rsplit(".", 1)[0] for n in graph.nodes if n.startswith("stage")})
    assert blocks == [f"stage{s}.block{b}" for s in (1, 2, 3, 4) for b in (0, 1)]
    # the downsampling shortcut (AvgPool + conv 1×1 + BN) is one conv node under the block's attribute name
    assert graph.module_paths["stage2.block0.shortcut"] == "backbone.12.shortcut.1"
    assert graph.module_paths["stage1.block0.shortcut"] == "backbone.10.shortcut"  # identity
    assert set(graph.nodes["stage2.block0.act2"].sources) == {"stage2.block0.conv2", "stage2.block0.shortcut"}
    assert graph.nodes["stage1.block0.conv1"].sources == ("stem.act3",)
    assert set(graph.module_paths) == set(graph.nodes)


def test_resnet19_stages_split_where_width_and_stride_change(model_factory):
    graph = capture(model_factory("resnet19", repact=False, timesteps=1), (3, 32, 32), 1)
    acts = [n for n in graph.nodes if n.endswith(".act2")]
    assert acts == [f"stage{s}.block{b}.act2" for s, count in ((1, 3), (2, 3), (3, 2)) for b in range(count)]
    assert graph.nodes["stage3.block0.act2"].shape == (512, 8, 8) and graph.nodes["stage2.block2.act2"].shape == (256, 16, 16)


def test_layers_after_a_block_join_its_stage_and_an_attribute_with_several_layers_keeps_its_path():
    layers = [("b.0", "conv"), ("b.1", "act"), ("b.2.conv1", "conv"), ("b.2.act1", "act"),
              ("b.2.shortcut.0", "conv"), ("b.2.shortcut.2", "act"), ("b.2.shortcut.3", "conv"), ("b.2.act2", "act"),
              ("b.3", "conv"), ("b.4", "act")]  # fmt: skip
    names = readable_names(layers, [BlockSeen("b.2", changes_shape=True)])
    assert names == {
        "b.0": "stem.conv1", "b.1": "stem.act1", "b.2.conv1": "stage1.block0.conv1", "b.2.act1": "stage1.block0.act1",
        "b.2.shortcut.0": "stage1.block0.shortcut.0", "b.2.shortcut.2": "stage1.block0.shortcut.2",
        "b.2.shortcut.3": "stage1.block0.shortcut.3", "b.2.act2": "stage1.block0.act2",
        "b.3": "stage1.conv1", "b.4": "stage1.act1",
    }  # fmt: skip
