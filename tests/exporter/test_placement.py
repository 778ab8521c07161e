"""Placement: every core within every limit of the profile, counts checked by hand and by brute force."""

import itertools
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from enof.errors import DoesNotFitError
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


def test_conv_64_to_64_3x3_on_32x32_population_axons_by_hand():
    # 64·32·32 = 65,536 neurons → ≥ 64 cores by compartments; one whole channel (1024) per core.
    # Population axons: one per input pixel, 32·32 = 1024 ≤ 4096.
    # Weight sets (nengo-loihi conv2d_loihi_weights): 3 row masks (top: 2 taps, interior: 3,
    # bottom: 2) × 3 column masks, and the first target compartment's 256-block: a pixel of row y
    # first reaches output row max(0, y−1), block = that // 8 (8 rows of 32 per 256 compartments).
    # top row → block 0 only, bottom row (first output row 30) → block 3, interior → blocks 0..3:
    # 3 + 3 + 3·4 = 18 sets. Synapses per set = 64 input channels × taps × 1 channel; all multiples
    # of 64, so bits = (n / 64) · 1216 (a 64-synapse block: 64·18 + 10 = 1162 → 1216 bits).
    top = bottom = (64 * 4 + 64 * 6 + 64 * 4) // 64 * 1216  # taps 2×2, 2×3, 2×2
    interior = (64 * 6 + 64 * 9 + 64 * 6) // 64 * 1216  # taps 3×2, 3×3, 3×2
    expected_bits = top + bottom + 4 * interior
    assert expected_bits == 136_192
    p = place([CONV64], LOIHI)
    assert len(p.cores) == 64
    for k, c in enumerate(p.cores):
        assert (c.neuron_start, c.neuron_stop, c.input_axons, c.synapse_bits) == (1024 * k, 1024 * (k + 1), 1024, expected_bits)
    assert p.layers[0].fullest_limit == "neurons" and p.layers[0].fullest_fraction == 1.0


def test_conv_64_to_64_3x3_on_32x32_discrete_axons_first_cores_by_hand(loihi_discrete):
    # conv 64→64, 3×3, stride 1, padding 1 on 32×32, fed by the host: 64·32·32 = 65,536 neurons,
    # so ≥ 65536 / 1024 = 64 cores by compartments alone.
    p = place([CONV64], loihi_discrete)
    cores = p.cores_of("conv")
    assert len(cores) > 64
    # Core 0 takes output row 0 of channel 0 (32 neurons). Its receptive field is input rows 0-1
    # (row −1 is padding) × all 32 columns = 64 pixels × 64 input channels = 4096 input axons: full.
    # One more neuron (row 1, x 0) adds input row 2, columns 0-1: 4096 + 2·64 = 4224 > 4096.
    c0 = cores[0]
    assert (c0.neuron_start, c0.neuron_stop, c0.input_axons) == (0, 32, 4096)
    # Each input axon reaches 2 (edge column) or 3 output neurons: 2·18 + 10 = 46 or 3·18 + 10 = 64
    # bits (8 weight + 10 index bits per synapse, 4 + 6 overhead), one 64-bit word either way.
    assert c0.synapse_bits == 4096 * 64
    # Core 1: row 1 from x = 0 needs input rows 0-2; L neurons need columns 0..L (L + 1 of them):
    # 3·(L + 1)·64 ≤ 4096 → L ≤ 20.3 → 20 neurons, 3·21·64 = 4032 axons.
    c1 = cores[1]
    assert (c1.neuron_start, c1.neuron_stop, c1.input_axons) == (32, 52, 4032)
    # Every channel is cut like channel 0.
    per_channel = [c for c in cores if c.neuron_stop <= 1024]
    assert [(c.neuron_start + 1024, c.neuron_stop + 1024) for c in per_channel] == [
        (c.neuron_start, c.neuron_stop) for c in cores[len(per_channel): 2 * len(per_channel)]
    ]


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
    layer = LayerSpec("backbone.9.lif", (512, 4, 4), (ConvSynapses("input", (512, 4, 4), (3, 3), (1, 1), (1, 1)),))
    with pytest.raises(DoesNotFitError) as info:
        place([layer], loihi_discrete)
    # an interior neuron sees 512 channels × 9 pixels = 4608 axons
    assert str(info.value) == (
        "backbone.9.lif: Input axons (4608) exceeded max (4096) for a single neuron; "
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


# Two limit sets: the first lets input axons and compartments bind, the second output axons and
# synapse memory (checked by hand on these seeds: each of the four limits is some layer's fullest).
LIMIT_SETS = [dict(neurons_per_core=48, input_axons_per_core=160, output_axons_per_core=400, synapse_bits_per_core=40000),
              dict(neurons_per_core=48, input_axons_per_core=160, output_axons_per_core=64, synapse_bits_per_core=9000)]


@pytest.mark.parametrize("seed", range(8))
def test_random_network_every_core_within_limits_and_counts_match_brute_force(tmp_path, seed):
    rng = np.random.default_rng(seed)
    lim = LIMIT_SETS[seed % 2]
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
            core_of[layer.name][c.neuron_start:c.neuron_stop] = c.core_id
    for core in p.cores:
        layer = next(l for l in layers if l.name == core.layer)
        sl = slice(core.neuron_start, core.neuron_stop)
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


def test_placement_json_round_trip_and_table():
    layers = [LayerSpec("a", (4, 8, 8), (ConvSynapses("input", (2, 8, 8), (3, 3), (1, 1), (1, 1)),)),
              LayerSpec("b", (10,), (DenseSynapses("a", 256),), to_host=True)]
    p = place(layers, LOIHI)
    data = json.loads(p.to_json_bytes())
    assert set(data) == {"format_version", "target", "chips", "cores", "layers"}
    assert set(data["cores"][0]) == {"core_id", "layer", "chip", "tile", "x", "y", "neuron_start", "neuron_stop",
                                     "neurons", "input_axons", "output_axons", "synapse_bits", "utilization"}
    assert placement_from_dict(data) == p
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
    t0 = time.perf_counter()
    with pytest.raises(DoesNotFitError, match=r"^s2\.0\.act2: Input axons \(4864\) exceeded max \(4096\)"):
        place(resnet19_layers(), loihi_discrete, max_chips=1_000_000)
    assert time.perf_counter() - t0 < 5.0  # the benchmark's bound (~0.5 s on one shared core)


def test_resnet19_cifar_on_loihi_needs_more_than_a_nahuku_board_and_says_how_many_fast():
    # With population axons every layer fits per core, but each neuron must reach every core of
    # the next layer's channels (cores hold whole channels): output axons cut the layers into
    # hundreds of thousands of cores. The error names the count and the largest layers.
    t0 = time.perf_counter()
    with pytest.raises(DoesNotFitError, match=r"^The network needs \d{4} chips, more than the target allows "
                                              r"\(max_chips = 32\): \d+ cores at 128 per chip; largest layers: s1"):
        place(resnet19_layers(), LOIHI)
    assert time.perf_counter() - t0 < 5.0  # the benchmark's bound (~1 s on one shared core)


def test_resnet19_narrow_places_within_limits_fast():
    # A quarter-width ResNet19 (32/64/128): ~10k cores on 82 chips.
    t0 = time.perf_counter()
    p = place(resnet19_layers(widths=(32, 64, 128)), LOIHI, max_chips=1_000_000)
    assert time.perf_counter() - t0 < 5.0
    assert len(p.layers) == 17 and all(max(c.utilization.values()) <= 1.0 for c in p.cores)


def _population_sets_brute_force(syn: ConvSynapses, out_hw, base_max=256):
    """nengo-loihi conv2d_loihi_weights, written out: (used pixels, taps of each distinct weight set)."""
    (_, h_in, w_in), (kh, kw), (sh, sw), (ph, pw) = syn.in_shape, syn.kernel, syn.stride, syn.padding
    sets, used = {}, 0
    for i, j in itertools.product(range(h_in), range(w_in)):
        ri = np.arange(i + ph + 1 - kh, i + ph + 1)  # flipped kernel rows, unstrided output rows
        rj = np.arange(j + pw + 1 - kw, j + pw + 1)
        mi = (ri >= 0) & (ri <= (out_hw[0] - 1) * sh) & (ri % sh == 0)
        mj = (rj >= 0) & (rj <= (out_hw[1] - 1) * sw) & (rj % sw == 0)
        if not mi.any() or not mj.any():
            continue
        used += 1
        offset = (ri[mi][0] // sh) * out_hw[1] + rj[mj][0] // sw
        sets[(tuple(mi), tuple(mj), offset // base_max)] = int(mi.sum() * mj.sum())
    return used, list(sets.values())


@pytest.mark.parametrize("seed", range(4))
def test_random_network_population_axons_match_nengo_loihi_weight_sets(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    profile = small_profile(tmp_path, neurons_per_core=256, input_axons_per_core=400, output_axons_per_core=300,
                            synapse_bits_per_core=40000, cores_per_chip=16)
    layers = _random_network(rng)
    p = place(layers, profile, max_chips=10_000)
    adj = _brute_force_connectivity(layers)
    core_of = {layer.name: np.empty(layer.neurons, dtype=int) for layer in layers}
    for c in p.cores:
        core_of[c.layer][c.neuron_start:c.neuron_stop] = c.core_id
    for core in p.cores:
        layer = next(l for l in layers if l.name == core.layer)
        if not any(isinstance(s, ConvSynapses) for s in layer.synapses):
            continue
        hw = layer.shape[1] * layer.shape[2]
        touched = (core.neuron_stop - 1) // hw - core.neuron_start // hw + 1  # channels it holds (part of)
        axons = bits = 0
        for syn in layer.synapses:
            used, taps = _population_sets_brute_force(syn, layer.shape[1:])
            axons += used
            bits += sum(_bits(syn.in_shape[0] * t * touched) for t in taps)
        out = core.neurons if layer.to_host else 0
        for (src, dst, _), m in adj.items():
            if src == core.layer:
                out += sum(len(set(core_of[dst][np.flatnonzero(row)])) for row in m[core.neuron_start:core.neuron_stop])
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
