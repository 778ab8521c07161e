"""Placement: every core within every limit of the profile, counts checked by hand and by brute force."""

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

from enof.errors import BundleError, DoesNotFitError
from enof.exporter.placement import ConvSynapses, DenseSynapses, LayerSpec, place, placement_table
from enof.formats.placement import placement_from_dict
from enof.hardware_profiles import load_profile

LOIHI = load_profile("loihi")


@pytest.fixture(scope="module")
def loihi_discrete(tmp_path_factory):
    """Loihi with conv population axons off: one input axon per presynaptic neuron, no weight sharing."""
    return small_profile(tmp_path_factory.mktemp("discrete"), conv_population_axons=False)


def small_profile(tmp_path, **limits):
    """The Loihi profile with some [limits] replaced (a user profile file, as a user would write one)."""
    text = Path(LOIHI.path).read_text()
    for key, value in limits.items():
        value = str(value).lower() if isinstance(value, bool) else value
        text, n = re.subn(rf"^{key} = \{{ value = [0-9a-z]+", f"{key} = {{ value = {value}", text, flags=re.M)
        assert n == 1, key
    path = tmp_path / "small.toml"
    path.write_text(text)
    return load_profile(path)


CONV64 = LayerSpec("conv", (64, 32, 32), (ConvSynapses("input", (64, 32, 32), (3, 3), (1, 1), (1, 1)),))
NEXT64 = LayerSpec("next", (64, 32, 32), (ConvSynapses("conv", (64, 32, 32), (3, 3), (1, 1), (1, 1)),))
BLOCK_BITS = 1216  # a full 64-synapse block on Loihi: 64·(8 weight + 10 index) + 10 overhead = 1162 → 1216


def test_conv_64_to_64_3x3_on_32x32_channels_last_by_hand():
    # conv 64→64, 3×3, stride 1, padding 1 on 32×32, then the same conv again ("next").
    # Ranges are channels-last: a core holds whole pixels (64 neurons each) in raster order.
    # Population axons: one input axon per input pixel reached, whose weight set holds
    # 64 input channels × n synapses, n = the core's neurons that pixel reaches.
    # One interior pixel: 9 input pixels × (64 · 64 = 4096 synapses = 64 blocks) = 9 · 64 · 1216 =
    # 700,416 bits ≤ 1,048,576. Two interior pixels side by side: 3 input rows × columns reaching
    # 1, 2, 2, 1 output pixels = 18 · 64 blocks · 1216 = 1,400,832 > max → 1 pixel per core.
    # Row 0 (input row −1 is padding): pixels x0-1: 2 input rows × columns reaching 2, 2, 1 pixels
    # = 10 · 64 · 1216 = 778,240; x0-2 would be 2·(2+3+2+1)·64·1216 = 1,245,184 > max → 2 pixels.
    # Synapse memory binds; compartments (128 of 1024) and input axons (≤ 12 of 4096) do not.
    p = place([CONV64, NEXT64], LOIHI, max_chips=100)
    conv = p.cores_of("conv")
    c0, c1, c16, c17 = conv[0], conv[1], conv[16], conv[17]
    assert (c0.neuron_start, c0.neuron_stop, c0.input_axons, c0.synapse_bits) == (0, 128, 6, 10 * 64 * BLOCK_BITS)
    # x2-3: input columns 1-4 reach 1, 2, 2, 1 pixels: 2 · 6 · 64 · 1216 = 933,888 bits, 8 pixels
    assert (c1.neuron_start, c1.neuron_stop, c1.input_axons, c1.synapse_bits) == (128, 256, 8, 933_888)
    # row 1, x0 alone (x0-1 would need 3 · 5 · 64 · 1216 = 1,167,360 bits): 6 input pixels, 6 · 64 blocks
    assert (c16.neuron_start, c16.neuron_stop, c16.input_axons, c16.synapse_bits) == (2048, 2112, 6, 466_944)
    assert (c17.neuron_start, c17.neuron_stop, c17.input_axons, c17.synapse_bits) == (2112, 2176, 9, 700_416)
    # Output axons: a neuron of pixel (y, x) reaches the 3×3 pixels around it in "next" (cut the
    # same way), all 64 channels: one axon per distinct core. Core 0: pixel (0,0) reaches next's
    # pair x0-1 and singles (1,0), (1,1) = 3 cores; (0,1) reaches pairs x0-1, x2-3 and singles
    # (1,0..2) = 5 cores: 64 · (3 + 5) = 512. Interior pixel (10,10): 9 single cores: 64 · 9 = 576.
    assert c0.output_axons == 512
    interior = next(c for c in conv if c.neuron_start == (10 * 32 + 10) * 64)
    assert (interior.neurons, interior.input_axons, interior.synapse_bits, interior.output_axons) == (64, 9, 700_416, 576)
    # Core count per layer: row 0: 16 pairs; row 1: x0..x30 alone (31); then for y = 1..29 the pair
    # (y,31)+(y+1,0) (12 input pixels, 12 · 64 · 1216 = 933,888 bits) and x1..x30 of row y+1 alone
    # (29 · 31); the pair (30,31)+(31,0); row 31: pairs x1-2 .. x29-30 (15) and x31 alone.
    expected = 16 + 31 + 29 * 31 + 1 + 16
    assert expected == 963 and len(conv) == 963 and len(p.cores_of("next")) == 963
    assert p.chips == -(-2 * 963 // 128) == 16
    assert {layer.fullest_limit for layer in p.layers} == {"synapse_bits"}


def test_conv_64_to_64_discrete_axons_take_64_input_axons_per_pixel(loihi_discrete):
    # Same cuts: with 64 input channels and n a multiple of 64 the bits are the same
    # (64 axons of n synapses = n/64 · 64 blocks), but each input pixel is 64 axons.
    p = place([CONV64], loihi_discrete)
    c0, c17 = p.cores[0], p.cores[17]
    assert (c0.neuron_stop, c0.input_axons, c0.synapse_bits) == (128, 6 * 64, 778_240)
    assert (c17.neurons, c17.input_axons, c17.synapse_bits) == (64, 9 * 64, 700_416)
    assert len(p.cores) == 963


def test_a_pixel_wider_than_a_core_is_cut_into_equal_channel_chunks_by_its_taps():
    # conv 128→512, 3×3 pad 1 on 4×4, population axons: c channels of a pixel with t taps cost
    # t input pixels × (128 · c synapses = 2c blocks of 1216 bits) ≤ 1,048,576 bits:
    # interior (t = 9) c ≤ 47 → 11 chunks; edge (t = 6) c ≤ 71 → 8 chunks; corner (t = 4)
    # c ≤ 107 → 5 chunks. Chunks are equal (512 // n apart): 4·5 + 8·8 + 4·11 = 128 cores.
    layer = LayerSpec("wide", (512, 4, 4), (ConvSynapses("input", (128, 4, 4), (3, 3), (1, 1), (1, 1)),))
    p = place([layer], LOIHI)
    assert len(p.cores) == 128
    cuts = [(c.neuron_start, c.neuron_stop) for c in p.cores]
    assert cuts[:5] == [(512 * k // 5, 512 * (k + 1) // 5) for k in range(5)]  # pixel (0, 0)
    assert all(a // 512 == (b - 1) // 512 for a, b in cuts)  # never two pixels on a core
    corner = p.cores[0]  # 102 channels: 128 · 102 = 13,056 synapses = 204 blocks, 4 taps
    assert (corner.input_axons, corner.synapse_bits) == (4, 4 * 204 * BLOCK_BITS)
    inner = next(c for c in p.cores if c.neuron_start == 5 * 512)  # pixel (1, 1): 46 channels, 92 blocks
    assert (inner.neurons, inner.input_axons, inner.synapse_bits) == (46, 9, 9 * 92 * BLOCK_BITS)
    assert sum(1 for c in p.cores if c.neuron_start // 512 == 5) == 11


def test_dense_synapse_bit_limit_by_hand():
    # 1000 inputs all-to-all: on a core of n neurons every input axon carries n synapses of
    # 8 + 10 bits plus 10 bits overhead, rounded up to 64: n = 56 → 1018 → 1024 bits;
    # 1000 axons × 1024 = 1,024,000 ≤ 1,048,576. n = 57 → 1036 → 1088 bits × 1000 > max.
    layer = LayerSpec("fc", (200,), (DenseSynapses("input", 1000),))
    p = place([layer], LOIHI)
    assert [(c.neuron_start, c.neuron_stop) for c in p.cores] == [(0, 56), (56, 112), (112, 168), (168, 200)]
    assert p.cores[0].synapse_bits == 1_024_000 and p.cores[0].input_axons == 1000
    # 32 neurons: 32·18 + 10 = 586 → 640 bits per axon
    assert p.cores[3].synapse_bits == 640_000
    assert p.layers[0].fullest_limit == "synapse_bits"
    assert p.layers[0].fullest_fraction == pytest.approx(1_024_000 / 1_048_576)


def test_more_than_64_synapses_per_axon_pay_a_block_each():
    # 100 neurons per axon on Loihi: one full block 64·18 + 10 = 1162 → 1216 bits,
    # and 36·18 + 10 = 658 → 704 bits: 1920 bits per axon, × 500 axons = 960,000 bits.
    layer = LayerSpec("fc", (100,), (DenseSynapses("input", 500),))
    p = place([layer], LOIHI)
    assert len(p.cores) == 1 and p.cores[0].synapse_bits == 500 * (1216 + 704)


def test_output_axons_split_the_producer():
    # "b" (250 neurons, 1000 inputs) needs 5 cores (56·4 + 26); each neuron of "a" sends to all 5,
    # so a core of "a" holds at most 4096 // 5 = 819 neurons.
    a = LayerSpec("a", (1000,))
    b = LayerSpec("b", (250,), (DenseSynapses("a", 1000),), to_host=True)
    p = place([a, b], LOIHI)
    assert len(p.cores_of("b")) == 5
    assert [(c.neuron_start, c.neuron_stop, c.output_axons) for c in p.cores_of("a")] == [
        (0, 819, 4095), (819, 1000, 905)
    ]
    assert all(c.output_axons == c.neurons for c in p.cores_of("b"))  # one axon to the host each


def test_fan_in_too_large_for_one_core_names_layer_limit_and_way_out(loihi_discrete):
    layer = LayerSpec("stage4.block0.act1", (512, 4, 4), (ConvSynapses("input", (512, 4, 4), (3, 3), (1, 1), (1, 1)),))
    with pytest.raises(DoesNotFitError) as info:
        place([layer], loihi_discrete)
    # an interior neuron sees 512 channels × 9 pixels = 4608 axons
    assert str(info.value) == (
        "stage4.block0.act1: Input axons (4608) exceeded max (4096) for a single neuron; "
        "reduce the layer's fan-in (fewer input channels or a smaller kernel)"
    )


def test_single_neuron_synapse_memory_overflow(tmp_path):
    profile = small_profile(tmp_path, synapse_bits_per_core=4096)
    with pytest.raises(DoesNotFitError, match=r"^fc: Total synapse bits \(64064\) exceeded max \(4096\) for a single neuron"):
        place([LayerSpec("fc", (4,), (DenseSynapses("input", 1001),))], profile)


def test_too_many_chips_names_the_largest_layers():
    layers = [LayerSpec("big", (1024 * 129,)), LayerSpec("small", (10,))]
    with pytest.raises(DoesNotFitError) as info:
        place(layers, LOIHI, max_chips=1)
    msg = str(info.value)
    # 129·1024 neurons → 129 cores, + 1 → 130 cores > 128: 2 chips
    assert msg.startswith("The network needs at least 2 chips, more than the target allows (max_chips = 1): 130 cores")
    assert "big (129 cores)" in msg


def _brute_force_connectivity(layers):
    """adjacency[(src, dst)] = bool matrix (src neurons × dst neurons), built by looping over taps."""
    adj = {}
    for layer in layers:
        for syn in layer.synapses:
            if isinstance(syn, DenseSynapses):
                m = np.ones((syn.n_in, layer.neurons), dtype=bool)
            else:
                cin, hin, win = syn.in_shape
                cout, hout, wout = layer.shape
                m = np.zeros((cin * hin * win, layer.neurons), dtype=bool)
                for co, yo, xo, ci, ky, kx in itertools.product(
                    range(cout), range(hout), range(wout), range(cin), range(syn.kernel[0]), range(syn.kernel[1])
                ):
                    yi, xi = yo * syn.stride[0] - syn.padding[0] + ky, xo * syn.stride[1] - syn.padding[1] + kx
                    if 0 <= yi < hin and 0 <= xi < win:
                        m[(ci * hin + yi) * win + xi, (co * hout + yo) * wout + xo] = True
            adj[(syn.source, layer.name, id(syn))] = m
    return adj


def _held(core, shape):
    """Flat torch (C, H, W) indices of a core's neurons: ranges are channels-last positions (y, x, c)."""
    if len(shape) != 3:
        return np.arange(core.neuron_start, core.neuron_stop)
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)[core.neuron_start:core.neuron_stop]


def _bits(n_synapses):
    per_block = -(-(64 * 18 + 10) // 64) * 64
    full, rest = divmod(int(n_synapses), 64)
    return full * per_block + (-(-(rest * 18 + 10) // 64) * 64 if rest else 0)


def _random_network(rng):
    layers, shape = [], (int(rng.integers(1, 4)), 8, 8)
    prev = "input"
    for i in range(5):
        c_out = int(rng.integers(2, 7))
        k, s = int(rng.choice([1, 3, 3])), int(rng.choice([1, 1, 1, 2]))
        pad = k // 2
        syn = ConvSynapses(prev, shape, (k, k), (s, s), (pad, pad))
        out = (c_out, *syn.out_hw())
        extra = ()
        if i >= 2 and rng.random() < 0.5:  # a residual-like second group from two layers back
            older = layers[i - 2]
            kk = 1 if older.shape[1:] == out[1:] else 3
            ss = older.shape[1] // out[1] if kk == 1 else (2 if older.shape[1] > out[1] else 1)
            cand = ConvSynapses(older.name, older.shape, (kk, kk), (ss, ss), (kk // 2, kk // 2))
            if cand.out_hw() == out[1:]:
                extra = (cand,)
        layers.append(LayerSpec(f"l{i}", out, (syn,) + extra))
        prev, shape = f"l{i}", out
    layers.append(LayerSpec("fc", (10,), (DenseSynapses(prev, int(np.prod(shape))),), to_host=True))
    return layers


# Three limit sets: the first lets input axons and compartments bind, the second output axons and
# synapse memory, the third (4 compartments < 5-6 channels) cuts pixels into channel chunks.
# Each of the four limits is some layer's fullest on these seeds (asserted below).
LIMIT_SETS = [dict(neurons_per_core=48, input_axons_per_core=160, output_axons_per_core=400, synapse_bits_per_core=40000),
              dict(neurons_per_core=48, input_axons_per_core=160, output_axons_per_core=64, synapse_bits_per_core=9000),
              dict(neurons_per_core=4, input_axons_per_core=400, output_axons_per_core=400, synapse_bits_per_core=40000)]


@pytest.mark.parametrize("seed", range(9))
def test_random_network_every_core_within_limits_and_counts_match_brute_force(tmp_path, seed):
    rng = np.random.default_rng(seed)
    lim = LIMIT_SETS[seed % 3]
    profile = small_profile(tmp_path, cores_per_chip=16, conv_population_axons=False, **lim)
    layers = _random_network(rng)
    p = place(layers, profile, max_chips=10_000)
    adj = _brute_force_connectivity(layers)
    core_of = {layer.name: np.empty(layer.neurons, dtype=int) for layer in layers}
    for layer in layers:  # contiguous ranges that tile the layer exactly
        mine = p.cores_of(layer.name)
        assert mine[0].neuron_start == 0 and mine[-1].neuron_stop == layer.neurons
        assert all(a.neuron_stop == b.neuron_start for a, b in zip(mine, mine[1:]))
        for c in mine:
            core_of[layer.name][_held(c, layer.shape)] = c.core_id
    for core in p.cores:
        layer = next(l for l in layers if l.name == core.layer)
        sl = _held(core, layer.shape)
        axons = bits = 0
        for (src, dst, _), m in adj.items():
            if dst == core.layer:
                n = m[:, sl].sum(axis=1)
                axons += int((n > 0).sum())
                bits += sum(_bits(x) for x in n)
        out = core.neurons if layer.to_host else 0
        for (src, dst, _), m in adj.items():
            if src == core.layer:
                out += sum(len(set(core_of[dst][np.flatnonzero(row)])) for row in m[sl])
        assert (core.input_axons, core.synapse_bits, core.output_axons) == (axons, bits, out)
        assert core.neurons <= lim["neurons_per_core"] and axons <= lim["input_axons_per_core"]
        assert out <= lim["output_axons_per_core"] and bits <= lim["synapse_bits_per_core"]
        assert core.chip == core.core_id // 16 and core.tile == (core.core_id % 16) // 4
        assert core.tile == core.y * 8 + core.x
    assert p.chips == -(-len(p.cores) // 16)
    assert max(layer.cores for layer in p.layers) > 1  # the limits did cut something


def test_random_networks_of_the_brute_force_test_bind_every_limit_and_cut_pixels(tmp_path):
    fullest, mid_pixel = set(), 0
    for seed in range(9):
        lim = LIMIT_SETS[seed % 3]
        (tmp_path / str(seed)).mkdir()
        profile = small_profile(tmp_path / str(seed), cores_per_chip=16, conv_population_axons=False, **lim)
        layers = _random_network(np.random.default_rng(seed))
        p = place(layers, profile, max_chips=10_000)
        fullest.update(layer.fullest_limit for layer in p.layers)
        channels = {layer.name: layer.shape[0] for layer in layers if len(layer.shape) == 3}
        mid_pixel += sum(1 for c in p.cores if c.layer in channels and c.neuron_start % channels[c.layer])
    assert fullest == {"neurons", "input_axons", "output_axons", "synapse_bits"}
    assert mid_pixel > 0  # the third limit set puts partial pixels on cores


def test_placement_json_round_trip_and_table():
    layers = [LayerSpec("a", (4, 8, 8), (ConvSynapses("input", (2, 8, 8), (3, 3), (1, 1), (1, 1)),)),
              LayerSpec("b", (10,), (DenseSynapses("a", 256),), to_host=True)]
    p = place(layers, LOIHI)
    data = json.loads(p.to_json_bytes())
    assert set(data) == {"format_version", "neuron_order", "target", "chips", "cores", "layers"}
    assert (data["format_version"], data["neuron_order"]) == (2, "hwc")
    assert set(data["cores"][0]) == {"core_id", "layer", "chip", "tile", "x", "y", "neuron_start", "neuron_stop",
                                     "neurons", "input_axons", "output_axons", "synapse_bits", "utilization"}
    assert placement_from_dict(data) == p
    with pytest.raises(BundleError, match=r"^placement\.json: format_version 1 is not 2 \(neuron ranges in the old C,H,W order; re-export"):
        placement_from_dict({**data, "format_version": 1})
    table = placement_table(p)
    assert table.row_count == 2 and [c.header for c in table.columns][:3] == ["layer", "neurons", "cores"]


def resnet19_layers(widths=(128, 256, 512), blocks=(3, 3, 2), size=32):
    """ResNet19 (Zheng et al. 2021) chip layers at CIFAR shape: stem conv + BasicBlocks, each
    block's second LIF summing conv2 and a (1×1, possibly strided) shortcut."""
    layers, prev, c, h = [], "input", 3, size
    def conv(name, src, cin, hin, cout, s, extra=()):
        syn = ConvSynapses(src, (cin, hin, hin), (3, 3), (s, s), (1, 1))
        layers.append(LayerSpec(name, (cout, *syn.out_hw()), (syn,) + extra))
        return syn.out_hw()[0]
    h = conv("stem", prev, c, h, widths[0], 1)
    prev, c = "stem", widths[0]
    for stage, (cout, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            s, name = (2 if stage and not b else 1), f"s{stage}.{b}"
            h1 = conv(f"{name}.act1", prev, c, h, cout, s)
            sc = ConvSynapses(prev, (c, h, h), (1, 1), (s, s), (0, 0))
            conv(f"{name}.act2", f"{name}.act1", cout, h1, cout, 1, (sc,))
            prev, c, h = f"{name}.act2", cout, h1
    return layers


def test_resnet19_cifar_with_discrete_axons_is_refused_fast_naming_the_512_channel_block(loihi_discrete):
    # 512 input channels × 3×3 + 256 shortcut channels = 4864 input axons for one neuron > 4096:
    # without population axons ResNet19's last stage cannot be placed, whatever the chip count.
    with pytest.raises(DoesNotFitError, match=r"^s2\.0\.act2: Input axons \(4864\) exceeded max \(4096\)"):
        place(resnet19_layers(), loihi_discrete, max_chips=1_000_000)


def test_resnet19_cifar_on_loihi_needs_more_than_a_nahuku_board_and_says_how_many():
    # With channels-last cores every layer's neurons reach only nearby cores, but the 128-512
    # channel layers need 9 taps × C_in × channels of synapse memory per pixel: a 128-channel
    # pixel alone does not fit a core (9 · 256 blocks · 1216 bits = 2.8 Mbit), so pixels are cut
    # into channel chunks. The error names the count (~390 chips) and the largest layers.
    with pytest.raises(DoesNotFitError, match=r"^The network needs (at least )?\d{3} chips, more than the target allows "
                                              r"\(max_chips = 32\): \d+ cores at 128 per chip; largest layers: s"):
        place(resnet19_layers(), LOIHI, max_chips=32)  # a 32-chip Nahuku board


def test_resnet19_cifar_places_on_about_390_chips():
    p = place(resnet19_layers(), LOIHI, max_chips=1_000_000)
    assert all(max(c.utilization.values()) <= 1.0 for c in p.cores)
    for layer in p.layers[1:]:  # no 128-512 channel pixel fits a core: every core inside one pixel
        channels = next(x.shape[0] for x in resnet19_layers() if x.name == layer.name)
        assert all(c.neuron_start // channels == (c.neuron_stop - 1) // channels for c in p.cores_of(layer.name))

    def cores_at_center(name, channels, side):
        return [c for c in p.cores_of(name) if c.neuron_start // channels == (side // 2) * side + side // 2]

    # c channels of an interior pixel from C_in channels cost 9 taps · (C_in · c / 64) blocks of
    # 1216 bits ≤ 1,048,576: 128 → c ≤ 47 → 3 chunks of 128; 256 → c ≤ 23 → 12 chunks of 256.
    assert len(cores_at_center("s0.1.act1", 128, 32)) == 3
    assert len(cores_at_center("s1.1.act1", 256, 16)) == 12
    # s2.1.act2: 3×3 from 512 plus a 1×1 shortcut from 512: 10 taps · 8c blocks → c ≤ 10 → 52 chunks.
    assert len(cores_at_center("s2.1.act2", 512, 8)) == 52
    # s2.1.act1 (c ≤ 11 by memory) feeds s2.1.act2: a center neuron reaches 9 pixels × 52 chunks
    # = 468 cores, so ≤ 4096 // 468 = 8 neurons per core → 64 chunks of 8, output axons 8 · 468.
    center = cores_at_center("s2.1.act1", 512, 8)
    assert len(center) == 64 and {(c.neurons, c.output_axons) for c in center} == {(8, 8 * 468)}
    # ~49k cores (vs ~314k with C,H,W ranges, where every neuron reached every core of the next layer)
    assert 370 <= p.chips <= 400


def test_resnet19_narrow_places_within_limits_fast():
    # A quarter-width ResNet19 (32/64/128): ~10k cores on 82 chips.
    p = place(resnet19_layers(widths=(32, 64, 128)), LOIHI, max_chips=1_000_000)
    assert len(p.layers) == 17 and all(max(c.utilization.values()) <= 1.0 for c in p.cores)


@pytest.mark.parametrize("seed", range(4))
def test_random_network_population_axons_match_a_brute_force_count(tmp_path, seed):
    # Population encoding: one input axon per input pixel that reaches the core, whose weight set
    # holds C_in · n synapses (n = the core's neurons it reaches); one set per pixel (no sharing,
    # the documented upper bound). Counted here from the explicit connectivity.
    rng = np.random.default_rng(100 + seed)
    profile = small_profile(tmp_path, neurons_per_core=256, input_axons_per_core=400, output_axons_per_core=300,
                            synapse_bits_per_core=40000, cores_per_chip=16)
    layers = _random_network(rng)
    p = place(layers, profile, max_chips=10_000)
    adj = _brute_force_connectivity(layers)
    core_of = {layer.name: np.empty(layer.neurons, dtype=int) for layer in layers}
    shapes = {layer.name: layer.shape for layer in layers}
    for c in p.cores:
        core_of[c.layer][_held(c, shapes[c.layer])] = c.core_id
    for core in p.cores:
        layer = next(l for l in layers if l.name == core.layer)
        held = _held(core, layer.shape)
        axons = bits = 0
        for syn, ((src, dst, _), m) in zip(layer.synapses, [(k, m) for k, m in adj.items() if k[1] == core.layer]):
            n = m[:, held].sum(axis=1)
            if isinstance(syn, DenseSynapses):
                axons += int((n > 0).sum())
                bits += sum(_bits(x) for x in n)
                continue
            per_pixel = n.reshape(syn.in_shape[0], -1)
            assert (per_pixel == per_pixel[0]).all()  # every input channel of a pixel reaches the same neurons
            axons += int((per_pixel[0] > 0).sum())
            bits += sum(_bits(syn.in_shape[0] * x) for x in per_pixel[0])
        out = core.neurons if layer.to_host else 0
        for (src, dst, _), m in adj.items():
            if src == core.layer:
                out += sum(len(set(core_of[dst][np.flatnonzero(row)])) for row in m[held])
        assert (core.input_axons, core.synapse_bits, core.output_axons) == (axons, bits, out)
        assert axons <= 400 and bits <= 40000 and out <= 300 and core.neurons <= 256


def test_wider_weights_than_the_target_are_refused_by_layer():
    with pytest.raises(DoesNotFitError, match=r"^fc: 9-bit weights exceed the target's 8 bits"):
        place([LayerSpec("fc", (4,), (DenseSynapses("input", 10, weight_bits=9),))], LOIHI)


def test_inconsistent_layer_specs_are_programming_errors():
    with pytest.raises(ValueError, match="conv from input gives"):
        LayerSpec("c", (4, 8, 8), (ConvSynapses("input", (2, 8, 8), (3, 3), (1, 1), (0, 0)),))  # 6×6 out
    a = LayerSpec("a", (2, 4, 4))
    with pytest.raises(ValueError, match="source a has shape"):
        place([a, LayerSpec("b", (3,), (DenseSynapses("a", 31),))], LOIHI)
    with pytest.raises(ValueError, match="not a chip layer placed before it"):
        place([LayerSpec("b", (3,), (DenseSynapses("a", 32),)), a], LOIHI)


def test_single_neuron_with_too_many_destination_cores_names_the_count(tmp_path):
    # "b" has 200 neurons at 48 per core → 5 cores; every neuron of "a" must reach all 5 > 4 allowed.
    profile = small_profile(tmp_path, neurons_per_core=48, output_axons_per_core=4)
    layers = [LayerSpec("a", (8,)), LayerSpec("b", (200,), (DenseSynapses("a", 8),))]
    with pytest.raises(DoesNotFitError, match=r"^a: Output axons \(5\) exceeded max \(4\) for a single neuron: "
                                              r"its spikes must reach 5 cores"):
        place(layers, profile)
