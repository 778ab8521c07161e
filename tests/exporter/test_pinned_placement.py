"""Placement numbers pinned by hand: Loihi 2's kernel_per_core synapse memory (each kernel row rounded up to
whole 64-bit words) and the tie rule between block shapes that take the same number of cores (the larger
channel group, then the squarer spatial block), with the output axons that rule gives the layer's source."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from enof.exporter.placement import LayerSpec, conv_synapses, place
from enof.hardware_profiles import load_profile

LOIHI2 = load_profile("loihi2")


def test_loihi2_profile_stores_one_kernel_per_core_in_64_bit_words():
    assert LOIHI2.limits.conv_weight_storage.value == "kernel_per_core"
    assert LOIHI2.limits.synapse_word_bits.value == 64


@pytest.mark.parametrize(
    "channels, weight_bits, row_words",
    [
        (8, 8, 1),  # 64 bits: exactly one word (a rounding of bits + 1 would give 2)
        (10, 8, 2),  # 80 bits → 2 words (unrounded 45·80 = 3600, rounded as a whole 3648)
        (11, 6, 2),  # --weight-bits 6: 66 bits → 2 words
        (16, 4, 1),  # --weight-bits 4: 64 bits → 1 word
    ],
)
def test_kernel_per_core_synapse_bits_round_each_kernel_row_up_to_64_bit_words(channels, weight_bits, row_words):
    """A 3×5 conv (not square: kh · kh or kw · kw would give 27 or 75) from 3 input channels:
    kh · kw · C_in = 45 kernel rows, each of ceil(channels · weight_bits / 64) words (placement_cost:
    kernel_per_core, inferred from lava-dl PilotNet's per-core table)."""
    conv = conv_synapses("input", (3, 8, 8), channels, (3, 5), (1, 1), (1, 2))
    p = place([LayerSpec("conv", (channels, 8, 8), (conv,), weight_bits=weight_bits)], LOIHI2)
    assert p.layers[0].block == (8, 8, channels)  # one core: well inside 8192 neurons
    assert [c.synapse_bits for c in p.cores] == [3 * 5 * 3 * row_words * 64]


def _loihi_with_neurons_per_core(folder: Path, neurons: int):
    """Loihi 1 with another neurons_per_core (a user profile file, as a user would write one)."""
    profile = load_profile("loihi")
    text, n = re.subn(r"^neurons_per_core = \{ value = [0-9]+", f"neurons_per_core = {{ value = {neurons}",
                      Path(profile.path).read_text(), flags=re.M)
    assert n == 1
    path = folder / f"loihi{neurons}.toml"
    path.write_text(text)
    return load_profile(path)


@pytest.fixture(scope="module")
def loihi_32_neurons(tmp_path_factory):
    """32 compartments per core, so a (4, 8, 8) layer needs 8 cores."""
    return _loihi_with_neurons_per_core(tmp_path_factory.mktemp("profile"), 32)


CONV_IN = conv_synapses("input", (1, 8, 8), 4, (3, 3), (1, 1), (1, 1))


def test_equal_core_counts_tie_to_the_larger_channel_group_then_the_squarer_block(loihi_32_neurons):
    """(4, 8, 8) at 32 neurons per core: 8 cores is the fewest, reached by (4, 8, 1), (4, 4, 2), (2, 8, 2),
    (1, 8, 4), (2, 4, 4), (4, 2, 4), (8, 1, 4). The larger channel group (4) wins, then the squarer block:
    |2 − 4| = 2 beats |1 − 8| = 7; (2, 4) comes before (4, 2) in the search and a later equal key never
    replaces an earlier one."""
    p = place([LayerSpec("act", (4, 8, 8), (CONV_IN,))], loihi_32_neurons)
    assert p.layers[0].block == (2, 4, 4)
    assert len(p.cores) == 8 and {c.neurons for c in p.cores} == {32}


def test_tie_rule_output_axons_of_a_source_feeding_a_3x3_conv(loihi_32_neurons):
    """act (4, 8, 8) → 3×3 conv, padding 1 → next (4, 8, 8), both in (2, 4, 4) blocks. A source core's
    output axons (population storage): 2 slots (pop32) · Σ_rows · Σ_cols of the consumer blocks each of its
    pixels reaches · 1 channel group. Edge row block [0, 2): rows reach 1 + 2 = 3 row blocks; interior
    [2, 4): 2 + 2 = 4; columns [0, 4): 1 + 1 + 1 + 2 = 5. So 2 · 3 · 5 = 30 and 2 · 4 · 5 = 40.
    Input axons of a consumer core: one per input pixel its kernels reach: 3 · 5 = 15 at an edge, 4 · 5 = 20."""
    nxt = LayerSpec("next", (4, 8, 8), (conv_synapses("act", (4, 8, 8), 4, (3, 3), (1, 1), (1, 1)),))
    p = place([LayerSpec("act", (4, 8, 8), (CONV_IN,)), nxt], loihi_32_neurons)
    assert [layer.block for layer in p.layers] == [(2, 4, 4), (2, 4, 4)]
    act = [c for c in p.cores if c.layer == "act"]
    consumer = [c for c in p.cores if c.layer == "next"]
    assert [c.output_axons for c in act] == [30, 30, 40, 40, 40, 40, 30, 30]
    assert [c.input_axons for c in consumer] == [15, 15, 20, 20, 20, 20, 15, 15]


def test_equal_cores_and_channels_tie_to_the_squarer_block_not_the_smaller_perimeter(tmp_path):
    """(1, 4, 5) at 12 neurons per core: (4, 3) and (2, 5) both take 2 cores of one channel. |4 − 3| = 1 beats
    |2 − 5| = 3, so (4, 3, 1); the search meets (2, 5) first, and rows + cols (7 both) would keep it."""
    layer = LayerSpec("act", (1, 4, 5), (conv_synapses("input", (1, 4, 5), 1, (1, 1)),))
    p = place([layer], _loihi_with_neurons_per_core(tmp_path, 12))
    assert p.layers[0].block == (4, 3, 1)
    assert [c.neurons for c in p.cores] == [12, 8]
