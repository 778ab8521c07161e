"""shown_name: the user's all-digit NIR name beside enof's, and nothing else renamed."""

from enof.formats.layer_names import shown_name


def test_a_renamed_numeric_node_shows_the_users_name_first():
    paths = {"lif3": "3", "conv1": "backbone.0", "fc": "fc", "lif_out": "lif_out"}
    assert shown_name("lif3", paths) == "3 (lif3)"


def test_module_paths_and_identical_names_stay_as_they_are():
    paths = {"conv1": "backbone.0", "fc": "fc"}
    assert [shown_name(n, paths) for n in ("conv1", "fc", "absent")] == ["conv1", "fc", "absent"]
