"""nengo-loihi 1.1.0 as the referee of enof's per-core resource model (docs/placement.md).

Each case builds the same conv or dense layer with the same block shape (nengo_loihi.BlockShape;
channels last, pop32 population axons, padding "same") in nengo-loihi, lets its builder split the
blocks (builder/split_blocks.py), and compares every core with enof's box of the same block:
compartments, input axons and output axons must be equal. Synapse bits of conv cores: equal to
nengo-loihi's own count (both give a core the fewest index bits that address its compartments, 6 for
≤ 64 ... 10 for 1024, and share the same weight sets). nengo-loihi stores dense weights without indices,
where enof charges the core's index bits on every synapse: enof's dense bits are ≥ nengo-loihi's. Then enof's own tiling must take no more cores than nengo-loihi's best
over the block shapes tried.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from enof.exporter.placement import LayerSpec, conv_synapses, dense_synapses, place
from enof.exporter.placement_cost import LayerCost, SynapseEncoding, axis_blocks
from enof.exporter.placement_cut import OutputAxons
from enof.hardware_profiles import load_profile

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    nengo = pytest.importorskip("nengo")
    nengo_loihi = pytest.importorskip("nengo_loihi")
from nengo.transforms import ChannelShape, Convolution  # noqa: E402
from nengo_loihi.builder import Model  # noqa: E402

LOIHI = load_profile("loihi")
LIM = LOIHI.limits
ENC = SynapseEncoding(LIM.synapse_word_bits.value, LIM.synapse_axon_overhead_bits.value,
                      LIM.synapse_index_bits.value, LIM.synapses_per_axon_block.value, LIM.synapse_index_bits_min.value)


def _ensemble(n):
    return nengo.Ensemble(n, 1, neuron_type=nengo.SpikingRectifiedLinear(), gain=np.ones(n), bias=np.zeros(n))


def nengo_blocks(c_in, hw, c_out, kernel, stride, pre_block, post_block, dense_out=None):
    """Build pre (hw × hw × c_in) → conv → post (→ dense_out neurons) in nengo-loihi; per post-layer block:
    (compartments, input axons, synapse bits, weight-set sizes); per pre block: output axon slots."""
    rng = np.random.default_rng(0)
    with nengo.Network(seed=0) as net:
        nengo_loihi.add_params(net)
        pre = _ensemble(hw * hw * c_in)
        conv = Convolution(c_out, ChannelShape((hw, hw, c_in)), strides=(stride, stride), kernel_size=(kernel, kernel),
                           padding="same", channels_last=True, init=rng.uniform(-1, 1, (kernel, kernel, c_in, c_out)))
        ho, wo = conv.output_shape.spatial_shape
        post = _ensemble(ho * wo * c_out)
        nengo.Connection(pre.neurons, post.neurons, transform=conv, synapse=0.005)
        net.config[pre].block_shape = nengo_loihi.BlockShape(pre_block, (hw, hw, c_in))
        net.config[post].block_shape = nengo_loihi.BlockShape(post_block, (ho, wo, c_out))
        if dense_out:
            fc = _ensemble(dense_out)
            nengo.Connection(post.neurons, fc.neurons, transform=rng.uniform(-1, 1, (dense_out, ho * wo * c_out)))
    model = Model(dt=0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.build(net, precompute=False, remove_passthrough=False, discretize=True)
    split = {obj: model.objs[obj]["out"] for obj in (pre, post)}
    post_cores = [(b.compartment.n_compartments, sum(s.n_axons for s in b.synapses), sum(s.bits() for s in b.synapses),
                   [w.size for s in b.synapses for w in s.weights]) for b in split[post]]
    pre_out = [sum(a.axon_slots() for a in b.axons) for b in split[pre]]
    post_out = [sum(a.axon_slots() for a in b.axons) for b in split[post]]
    return post_cores, pre_out, post_out, (ho, wo)


def enof_cores(layer, block):
    """(compartments, input axons, synapse bits) of each of enof's cores of `layer` for `block`, in nengo's order."""
    cost = LayerCost(layer, ENC, "population", LIM.axon_compartment_base_max.value)
    c, h, w = cost.shape3
    return [((r[1] - r[0]) * (q[1] - q[0]) * (ch[1] - ch[0]), *cost.box_cost(r, q, ch[1] - ch[0]))
            for r in axis_blocks(h, block[0]) for q in axis_blocks(w, block[1]) for ch in axis_blocks(c, block[2])]


def enof_output_axons(layer, block, consumers):
    out = OutputAxons(layer, consumers, LIM.population_axon_slots.value, "population")
    fixed, per_channel = out.terms(block[0], block[1])
    c = layer.shape[0]
    return [int(fixed[i, j] + per_channel[i, j] * (ch[1] - ch[0])) for i in range(fixed.shape[0])
            for j in range(fixed.shape[1]) for ch in axis_blocks(c, block[2])]


# (C_in, H = W, C_out, kernel, stride, pre block, post block): small layers that exercise border taps,
# strides, channel groups and the 256-compartment offset buckets, plus ResNet20 sizes of the reference table.
CASES = [
    (4, 8, 4, 3, 1, (4, 4, 4), (4, 4, 4)),
    (3, 9, 5, 3, 1, (3, 5, 3), (4, 3, 2)),
    (6, 9, 8, 3, 2, (9, 9, 3), (2, 3, 8)),  # odd input: nengo's 'same' pads 1 both sides, as torch does
    (8, 12, 16, 3, 1, (6, 6, 8), (5, 4, 16)),  # 320 compartments: three offset buckets
    (16, 8, 32, 1, 1, (8, 8, 16), (4, 4, 32)),  # a 1×1 conv (shortcut)
    (64, 16, 64, 3, 1, (4, 4, 64), (16, 16, 4)),  # ResNet20 16×16×64: 16 cores, as the reference table
    (64, 15, 128, 3, 2, (4, 4, 64), (8, 8, 16)),  # a strided ResNet20-like conv (odd size, see above)
]


@pytest.mark.parametrize("c_in, hw, c_out, kernel, stride, pre_block, post_block", CASES)
def test_every_core_matches_nengo_loihi(c_in, hw, c_out, kernel, stride, pre_block, post_block):
    post_cores, pre_out, _, (ho, wo) = nengo_blocks(c_in, hw, c_out, kernel, stride, pre_block, post_block)
    pad = (kernel - 1) // 2  # padding "same" for odd kernels (nengo-loihi's npconv2d rule)
    syn = conv_synapses("pre", (c_in, hw, hw), c_out, (kernel, kernel), (stride, stride), (pad, pad))
    post = LayerSpec("post", (c_out, ho, wo), (syn,))
    mine = enof_cores(post, post_block)
    assert len(mine) == len(post_cores)
    for (n, axons, bits), (n_ref, axons_ref, bits_ref, sets) in zip(mine, post_cores):
        assert (n, axons) == (n_ref, axons_ref)
        # the same weight sets, priced alike at the core's index width (ceil(log2 n), at least 6)
        assert bits == int(ENC.for_compartments(n).axon_bits(np.asarray(sets), 8).sum())
        assert bits == bits_ref  # and nengo-loihi's own count: its index width per core is the same rule
    consumers = [(post, syn, post_block, len(post_cores))]
    assert enof_output_axons(LayerSpec("pre", (c_in, hw, hw)), pre_block, consumers) == pre_out


def test_dense_layer_after_a_conv_matches_nengo_loihi():
    # conv 8→8 on 6×6 then dense 288 → 40: discrete axons, one per presynaptic neuron per target core.
    post_cores, _, post_out, _ = nengo_blocks(8, 6, 8, 3, 1, (6, 6, 8), (3, 6, 8), dense_out=40)
    conv = LayerSpec("post", (8, 6, 6), (conv_synapses("pre", (8, 6, 6), 8, (3, 3), (1, 1), (1, 1)),))
    fc = LayerSpec("fc", (40,), (dense_synapses("post", 288, (40,)),))
    # nengo-loihi splits the 40-neuron dense block only when it must: one core, 288 axons
    assert enof_output_axons(conv, (3, 6, 8), [(fc, fc.synapses[0], (1, 1, 40), 1)]) == post_out
    assert [c[:2] for c in enof_cores(conv, (3, 6, 8))] == [c[:2] for c in post_cores]


# The reference table's ResNet20 layers (nengo-loihi cores at the fewest-block BlockShape that builds).
REFERENCE = [
    ((64, 16, 16), (64, 16, 16), 1, 16),
    ((128, 8, 8), (128, 8, 8), 1, 32),
    ((64, 16, 16), (128, 8, 8), 2, 8),
]


@pytest.mark.parametrize("src, dst, stride, nengo_cores", REFERENCE)
def test_enof_takes_no_more_cores_than_nengo_loihi_on_resnet20_layers(src, dst, stride, nengo_cores):
    a = LayerSpec("a", src)
    b = LayerSpec("b", dst, (conv_synapses("a", src, dst[0], (3, 3), (stride, stride), (1, 1)),))
    c = LayerSpec("c", dst, (conv_synapses("b", dst, dst[0], (3, 3), (1, 1), (1, 1)),))  # b both consumes and produces
    p = place([a, b, c], LOIHI)
    assert len(p.cores_of("b")) <= nengo_cores
