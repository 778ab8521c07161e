"""Placement: every core within every limit of the profile, counts checked by hand and by brute force."""

import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from enof.errors import BundleError, DoesNotFitError
from enof.exporter.placement import LayerSpec, conv_synapses, dense_synapses, place, placement_table
from enof.formats.placement import placement_from_dict
from enof.hardware_profiles import load_profile

LOIHI = load_profile("loihi")


@pytest.fixture(scope="module")
def loihi_discrete(tmp_path_factory):
    """Loihi with conv population axons off: one input axon per presynaptic neuron, no weight sharing."""
    return small_profile(tmp_path_factory.mktemp("discrete"), conv_weight_storage='"discrete"')


def small_profile(tmp_path, **limits):
    """The Loihi profile with some [limits] replaced (a user profile file, as a user would write one)."""
    text = Path(LOIHI.path).read_text()
    for key, value in limits.items():
        value = str(value).lower() if isinstance(value, bool) else value
        text, n = re.subn(rf"^{key} = \{{ value = [0-9a-z_\"]+", f"{key} = {{ value = {value}", text, flags=re.M)
        assert n == 1, key
    path = tmp_path / "small.toml"
    path.write_text(text)
    return load_profile(path)


CONV64 = LayerSpec("conv", (64, 32, 32), (conv_synapses("input", (64, 32, 32), 64, (3, 3), (1, 1), (1, 1)),))
NEXT64 = LayerSpec("next", (64, 32, 32), (conv_synapses("conv", (64, 32, 32), 64, (3, 3), (1, 1), (1, 1)),))


def test_dense_synapse_bit_limit_by_hand():
    # 1000 inputs all-to-all: on a core of n neurons every input axon carries n synapses of 8 weight +
    # ceil(log2 n) index bits (at least 6) in blocks of ≤ 64 synapses, each + 10 bits overhead rounded up
    # to 64: n = 64 → 64·14 + 10 = 906 → 960 bits, × 1000 axons ≤ 1,048,576; n = 65 → a second block:
    # 1024 + 64 = 1088 bits × 1000 > max. 200 neurons need 4 cores; the tiling takes the smallest equal
    # group that gives 4: 50 neurons, 50·14 + 10 = 710 → 768 bits per axon.
    layer = LayerSpec("fc", (200,), (dense_synapses("input", 1000, (200,)),))
    p = place([layer], LOIHI)
    assert [(c.neuron_start, c.neuron_stop) for c in p.cores] == [(0, 50), (50, 100), (100, 150), (150, 200)]
    assert p.cores[0].synapse_bits == 768_000 and p.cores[0].input_axons == 1000
    assert p.layers[0].fullest_limit == "synapse_bits" and p.layers[0].block == (1, 1, 50)
    assert p.layers[0].fullest_fraction == pytest.approx(768_000 / 1_048_576, abs=1e-6)


def test_more_than_64_synapses_per_axon_pay_a_block_each():
    # 100 neurons per axon on Loihi (7 index bits for 100 compartments): one full block 64·15 + 10 = 970
    # → 1024 bits, and 36·15 + 10 = 550 → 576 bits: 1600 bits per axon, × 500 axons = 800,000 bits.
    layer = LayerSpec("fc", (100,), (dense_synapses("input", 500, (100,)),))
    p = place([layer], LOIHI)
    assert len(p.cores) == 1 and p.cores[0].synapse_bits == 500 * (1024 + 576)


def test_fan_in_too_large_for_one_core_names_layer_limit_and_way_out(loihi_discrete):
    layer = LayerSpec("stage4.block0.act1", (512, 4, 4), (conv_synapses("input", (512, 4, 4), 512, (3, 3), (1, 1), (1, 1)),))
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
        place([LayerSpec("fc", (4,), (dense_synapses("input", 1001, (4,)),))], profile)


def test_too_many_chips_names_the_largest_layers():
    layers = [LayerSpec("big", (1024 * 129,)), LayerSpec("small", (10,))]
    with pytest.raises(DoesNotFitError) as info:
        place(layers, LOIHI, max_chips=1)
    msg = str(info.value)
    # 129·1024 neurons → 129 cores, + 1 → 130 cores > 128: 2 chips
    assert msg.startswith("The network needs 2 chips, more than the target allows (max_chips = 1): 130 cores")
    assert "big (129 cores)" in msg
    # compartments bind both layers: big's fullest core is full, small's holds 10 of 1024
    assert "number of compartments binds at 1–100% of a core on 2 of 2 layers" in msg
    assert msg.endswith("[limits] max_chips or neurons_per_core")


def _brute_force_connectivity(layers):
    """adjacency[(src, dst)] = bool matrix (src neurons × dst neurons), built by looping over taps."""
    adj = {}
    for layer in layers:
        for syn in layer.synapses:
            if syn.kind == "dense":
                m = np.ones((int(np.prod(syn.source_shape)), layer.neurons), dtype=bool)
            else:
                cin, hin, win = syn.source_shape
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
    """Flat torch (C, H, W) indices of a core's neurons, written out from its box (1-D: its flat range)."""
    if core.box is None:
        return np.arange(core.neuron_start, core.neuron_stop)
    (y0, y1), (x0, x1), (c0, c1) = core.box
    return np.array([(c * shape[1] + y) * shape[2] + x for c in range(c0, c1) for y in range(y0, y1) for x in range(x0, x1)])


def _bits(n_synapses, compartments):
    """Synapse bits of one axon's synapses onto a core of `compartments`: 8 weight + the index bits that
    address the core (ceil(log2 n), 6 to 10), blocks of ≤ 64 synapses + 10 bits, rounded up to 64."""
    per_synapse = 8 + min(10, max(6, math.ceil(math.log2(max(compartments, 2)))))
    per_block = -(-(64 * per_synapse + 10) // 64) * 64
    full, rest = divmod(int(n_synapses), 64)
    return full * per_block + (-(-(rest * per_synapse + 10) // 64) * 64 if rest else 0)


def _random_network(rng):
    layers, shape = [], (int(rng.integers(1, 4)), 8, 8)
    prev = "input"
    for i in range(5):
        c_out = int(rng.integers(2, 7))
        k, s = int(rng.choice([1, 3, 3])), int(rng.choice([1, 1, 1, 2]))
        pad = k // 2
        syn = conv_synapses(prev, shape, c_out, (k, k), (s, s), (pad, pad))
        out = syn.target_shape
        extra = ()
        if i >= 2 and rng.random() < 0.5:  # a residual-like second group from two layers back
            older = layers[i - 2]
            kk = 1 if older.shape[1:] == out[1:] else 3
            ss = older.shape[1] // out[1] if kk == 1 else (2 if older.shape[1] > out[1] else 1)
            cand = conv_synapses(older.name, older.shape, c_out, (kk, kk), (ss, ss), (kk // 2, kk // 2))
            if cand.target_shape == out:
                extra = (cand,)
        layers.append(LayerSpec(f"l{i}", out, (syn,) + extra))
        prev, shape = f"l{i}", out
    layers.append(LayerSpec("fc", (10,), (dense_synapses(prev, int(np.prod(shape)), (10,)),), to_host=True))
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
    profile = small_profile(tmp_path, cores_per_chip=16, conv_weight_storage='"discrete"', **lim)
    layers = _random_network(rng)
    p = place(layers, profile, max_chips=10_000)
    adj = _brute_force_connectivity(layers)
    core_of = {layer.name: np.empty(layer.neurons, dtype=int) for layer in layers}
    for layer in layers:  # tiles that cover the layer exactly once
        mine = p.cores_of(layer.name)
        held = np.concatenate([_held(c, layer.shape) for c in mine])
        assert sorted(held.tolist()) == list(range(layer.neurons))
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
                bits += sum(_bits(x, core.neurons) for x in n)
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
        profile = small_profile(tmp_path / str(seed), cores_per_chip=16, conv_weight_storage='"discrete"', **lim)
        layers = _random_network(np.random.default_rng(seed))
        p = place(layers, profile, max_chips=10_000)
        fullest.update(layer.fullest_limit for layer in p.layers)
        channels = {layer.name: layer.shape[0] for layer in layers if len(layer.shape) == 3}
        mid_pixel += sum(1 for c in p.cores if c.layer in channels and c.box[2] != (0, channels[c.layer]))
    assert fullest == {"neurons", "input_axons", "output_axons", "synapse_bits"}
    assert mid_pixel > 0  # the third limit set puts partial pixels on cores


def test_placement_json_round_trip_and_table():
    layers = [LayerSpec("a", (4, 8, 8), (conv_synapses("input", (2, 8, 8), 4, (3, 3), (1, 1), (1, 1)),)),
              LayerSpec("b", (10,), (dense_synapses("a", 256, (10,)),), to_host=True)]
    p = place(layers, LOIHI)
    data = json.loads(p.to_json_bytes())
    assert set(data) == {"format_version", "neuron_order", "target", "chips", "cores", "layers"}
    assert (data["format_version"], data["neuron_order"]) == (3, "tiles")
    assert set(data["cores"][0]) == {"core_id", "layer", "chip", "tile", "x", "y", "neuron_start", "neuron_stop",
                                     "neurons", "input_axons", "output_axons", "synapse_bits", "utilization", "box"}
    assert placement_from_dict(data, layer_shapes={"a": (4, 8, 8), "b": (10,)}) == p
    with pytest.raises(BundleError, match=r"^placement\.json: format_version 2 is not 3 \(channels-last ranges"):
        placement_from_dict({**data, "format_version": 2})
    table = placement_table(p)
    assert table.row_count == 2 and [c.header for c in table.columns][:3] == ["layer", "neurons", "cores"]


def resnet19_layers(widths=(128, 256, 512), blocks=(3, 3, 2), size=32):
    """ResNet19 (Zheng et al. 2021) chip layers at CIFAR shape: stem conv + BasicBlocks, each
    block's second LIF summing conv2 and a (1×1, possibly strided) shortcut."""
    layers, prev, c, h = [], "input", 3, size
    def conv(name, src, cin, hin, cout, s, extra=()):
        syn = conv_synapses(src, (cin, hin, hin), cout, (3, 3), (s, s), (1, 1))
        layers.append(LayerSpec(name, syn.target_shape, (syn,) + extra))
        return syn.target_shape[1]
    h = conv("stem", prev, c, h, widths[0], 1)
    prev, c = "stem", widths[0]
    for stage, (cout, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            s, name = (2 if stage and not b else 1), f"s{stage}.{b}"
            h1 = conv(f"{name}.act1", prev, c, h, cout, s)
            sc = conv_synapses(prev, (c, h, h), cout, (1, 1), (s, s), (0, 0))
            conv(f"{name}.act2", f"{name}.act1", cout, h1, cout, 1, (sc,))
            prev, c, h = f"{name}.act2", cout, h1
    return layers


def test_resnet19_cifar_with_discrete_axons_is_refused_fast_naming_the_512_channel_block(loihi_discrete):
    # 512 input channels × 3×3 + 512 identity-shortcut channels = 5120 input axons for one neuron > 4096
    # (layers are tiled consumers first, so the last block is the first refused): without population
    # axons ResNet19's last stage cannot be placed, whatever the chip count.
    with pytest.raises(DoesNotFitError, match=r"^s2\.1\.act2: Input axons \(5120\) exceeded max \(4096\)"):
        place(resnet19_layers(), loihi_discrete, max_chips=1_000_000)


def test_resnet19_cifar_on_loihi_needs_more_than_a_nahuku_board_and_says_how_many():
    # Tiles with shared weight sets bring ResNet19 to ~70 chips; synapse memory binds almost everywhere,
    # and the error says so, names the largest layers and the way out.
    with pytest.raises(DoesNotFitError, match=r"^The network needs \d{2} chips, more than the target allows "
                                              r"\(max_chips = 32\): [\d,]+ cores at 128 per chip; total synapse bits "
                                              r"binds at \d+–100% of a core on 1\d of 17 layers; largest layers: s[\w.]+ \([\d,]+ cores\).*"
                                              r"--max-chips.*\[limits\] max_chips or synapse_bits_per_core$"):
        place(resnet19_layers(), LOIHI, max_chips=32)  # a 32-chip Nahuku board


def test_resnet19_narrow_places_within_limits_fast():
    # A quarter-width ResNet19 (32/64/128): ~10k cores on 82 chips.
    p = place(resnet19_layers(widths=(32, 64, 128)), LOIHI, max_chips=1_000_000)
    assert len(p.layers) == 17 and all(max(c.utilization.values()) <= 1.0 for c in p.cores)


def test_wider_weights_than_the_target_are_refused_by_layer():
    with pytest.raises(DoesNotFitError, match=r"^fc: 9-bit weights exceed the target's 8 bits"):
        place([LayerSpec("fc", (4,), (dense_synapses("input", 10, (4,)),), weight_bits=9)], LOIHI)


def test_inconsistent_layer_specs_are_programming_errors():
    with pytest.raises(ValueError, match="conv from input gives"):
        LayerSpec("c", (4, 8, 8), (conv_synapses("input", (2, 8, 8), 4, (3, 3), (1, 1), (0, 0)),))  # 6×6 out
    a = LayerSpec("a", (2, 4, 4))
    with pytest.raises(ValueError, match="source a has shape"):
        place([a, LayerSpec("b", (3,), (dense_synapses("a", 31, (3,)),))], LOIHI)
    with pytest.raises(ValueError, match="not a chip layer placed before it"):
        place([LayerSpec("b", (3,), (dense_synapses("a", 32, (3,)),)), a], LOIHI)




def test_a_core_pays_the_index_bits_that_address_its_compartments():
    # nengo-loihi's rule (block.py SynapseConfig: idx_bits in {6..12}): ceil(log2 n), at least 6, at most
    # the profile's 10; a 1024-compartment core pays the full 10, a 64-compartment core 6
    from enof.exporter.placement_cost import SynapseEncoding

    lim = LOIHI.limits
    enc = SynapseEncoding(lim.synapse_word_bits.value, lim.synapse_axon_overhead_bits.value,
                          lim.synapse_index_bits.value, lim.synapses_per_axon_block.value,
                          lim.synapse_index_bits_min.value)
    widths = {n: enc.for_compartments(n).index_bits for n in (1, 64, 65, 128, 129, 512, 513, 1024, 4096)}
    assert widths == {1: 6, 64: 6, 65: 7, 128: 7, 129: 8, 512: 9, 513: 10, 1024: 10, 4096: 10}
