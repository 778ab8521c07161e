"""placement.json v2: channels-last neuron ranges, the one index helper every reader uses, old versions refused."""

import json

import numpy as np
import pytest

from enof.errors import BundleError
from enof.formats.placement import (
    LayerPlacement, PlacedCore, Placement, core_neuron_indices, neuron_indices, placement_from_dict, placement_order, read_placement,
)


def test_3d_ranges_are_channels_last_positions_and_map_to_torch_indices():
    # (C, H, W) = (3, 2, 4): position (y * 4 + x) * 3 + c holds torch index c * 8 + y * 4 + x.
    shape = (3, 2, 4)
    torch_index = np.arange(24).reshape(shape)
    expected = torch_index.transpose(1, 2, 0).reshape(-1)  # H, W, C order, written independently
    assert np.array_equal(placement_order(shape), expected)
    # pixels 1 and 2 whole, plus channel 0 of pixel 3: torch (c, 0, 1), (c, 0, 2), (0, 0, 3)
    assert neuron_indices(3, 10, shape).tolist() == [1, 9, 17, 2, 10, 18, 3]
    # a range inside one pixel (its channels cut across cores): channels 1-2 of pixel (1, 3)
    assert neuron_indices(7 * 3 + 1, 7 * 3 + 3, shape).tolist() == [8 + 7, 16 + 7]
    assert sorted(placement_order(shape).tolist()) == list(range(24))  # a permutation


def test_1d_layers_keep_their_order_and_dict_cores_work_like_placed_cores():
    assert np.array_equal(placement_order((10,)), np.arange(10))
    core = PlacedCore(0, "a", 0, 0, 0, 0, 4, 7, 3, 0, 0, 0, {})
    as_dict = {"neuron_start": 4, "neuron_stop": 7}
    assert core_neuron_indices(core, (10,)).tolist() == core_neuron_indices(as_dict, (10,)).tolist() == [4, 5, 6]
    # C=2, H=1, W=3: positions 1, 2, 3 = (pixel 0, c 1), (pixel 1, c 0), (pixel 1, c 1) → torch 3, 1, 4
    assert core_neuron_indices({"neuron_start": 1, "neuron_stop": 4}, (2, 1, 3)).tolist() == [3, 1, 4]


def _placement():
    cores = (PlacedCore(0, "a", 0, 0, 0, 0, 0, 24, 24, 1, 2, 3, {"neurons": 0.5}),)
    return Placement(target="loihi", chips=1, cores=cores, layers=(LayerPlacement("a", 24, 1, "neurons", 0.5),))


def test_version_2_round_trips_and_says_its_neuron_order(tmp_path):
    path = tmp_path / "placement.json"
    path.write_bytes(_placement().to_json_bytes())
    data = json.loads(path.read_text())
    assert (data["format_version"], data["neuron_order"]) == (2, "hwc")
    assert read_placement(path) == _placement()
    assert placement_from_dict(_placement().to_dict()) == _placement()


def test_version_1_and_unknown_orders_are_refused_in_one_line():
    data = _placement().to_dict()
    with pytest.raises(BundleError) as info:
        placement_from_dict({**data, "format_version": 1}, "b/placement.json")
    assert str(info.value) == ("b/placement.json: format_version 1 is not 2 (neuron ranges in the old C,H,W order; "
                               "re-export the bundle)")
    with pytest.raises(BundleError, match=r"^placement\.json: neuron_order 'chw' is not 'hwc'$"):
        placement_from_dict({**data, "neuron_order": "chw"})
