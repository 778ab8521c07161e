"""placement.json v3: cores hold tiles (boxes of rows × cols × channels), the one index helper every
reader uses, boxes that must tile their layer, old versions refused."""

import json

import numpy as np
import pytest

from enof.errors import BundleError
from enof.formats.placement import (
    LayerPlacement, PlacedCore, Placement, core_neuron_indices, placement_from_dict, placement_order, read_placement,
)


def _core(core_id, start, box, layer="a"):
    n = int(np.prod([b - a for a, b in box]))
    return PlacedCore(core_id, layer, 0, 0, 0, 0, start, start + n, n, 1, 2, 3, {"neurons": 0.5}, box)


# (C, H, W) = (3, 2, 4) in two tiles: rows 0-1 × cols 0-1 × all channels, and cols 2-3.
TILES = (_core(0, 0, ((0, 2), (0, 2), (0, 3))), _core(1, 12, ((0, 2), (2, 4), (0, 3))))


def test_a_box_maps_to_torch_indices_in_y_x_c_order():
    # torch index of (c, y, x) in (3, 2, 4) is c * 8 + y * 4 + x; the box walks y, then x, then c
    assert core_neuron_indices(TILES[1], (3, 2, 4)).tolist()[:6] == [2, 10, 18, 3, 11, 19]
    order = placement_order((3, 2, 4), TILES)
    assert sorted(order.tolist()) == list(range(24))  # the two tiles cover the layer once
    assert core_neuron_indices({"neuron_start": 0, "neuron_stop": 1, "box": [[1, 2], [3, 4], [2, 3]]},
                               (3, 2, 4)).tolist() == [2 * 8 + 4 + 3]


def test_1d_cores_are_flat_ranges_and_dict_cores_work_like_placed_cores():
    core = PlacedCore(0, "a", 0, 0, 0, 0, 4, 7, 3, 0, 0, 0, {})
    assert core_neuron_indices(core, (10,)).tolist() == core_neuron_indices(
        {"neuron_start": 4, "neuron_stop": 7}, (10,)).tolist() == [4, 5, 6]


def _placement():
    return Placement(target="loihi", chips=1, cores=TILES,
                     layers=(LayerPlacement("a", 24, 2, "neurons", 0.5, (2, 2, 3)),))


def test_version_3_round_trips_with_tiles(tmp_path):
    path = tmp_path / "placement.json"
    path.write_bytes(_placement().to_json_bytes())
    data = json.loads(path.read_text())
    assert (data["format_version"], data["neuron_order"]) == (3, "tiles")
    assert data["cores"][1]["box"] == [[0, 2], [2, 4], [0, 3]] and data["layers"][0]["block"] == [2, 2, 3]
    assert read_placement(path, layer_shapes={"a": (3, 2, 4)}) == _placement()
    assert placement_from_dict(_placement().to_dict()) == _placement()


def test_boxes_that_overlap_or_leave_neurons_out_are_refused_in_one_line():
    data = _placement().to_dict()
    data["cores"][1]["box"] = [[0, 2], [1, 3], [0, 3]]  # columns 1-2: overlaps core 0, leaves column 3 out
    with pytest.raises(BundleError, match=r"^placement\.json: .*'a' hold neuron \(c=0, y=0, x=1\) 2 times, not once"):
        placement_from_dict(data, layer_shapes={"a": (3, 2, 4)})
    data["cores"][1]["box"] = [[0, 2], [2, 4], [0, 2]]
    with pytest.raises(BundleError, match=r"cores\[1\]\.box.* holds 8 neurons, but the core says neurons = 12"):
        placement_from_dict(data)


def test_versions_1_and_2_are_refused_in_one_line():
    data = _placement().to_dict()
    with pytest.raises(BundleError) as info:
        placement_from_dict({**data, "format_version": 2}, "b/placement.json")
    assert str(info.value) == ("b/placement.json: format_version 2 is not 3 (channels-last ranges, one weight set "
                               "per pixel; re-export the bundle)")
    with pytest.raises(BundleError, match=r"format_version 1 is not 3 \(neuron ranges in the old C,H,W order"):
        placement_from_dict({**data, "format_version": 1})
    with pytest.raises(BundleError, match=r"^placement\.json: neuron_order 'hwc' is not 'tiles'$"):
        placement_from_dict({**data, "neuron_order": "hwc"})
