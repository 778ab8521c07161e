"""Hardware profiles: the shipped files load, and a broken file is refused naming file and field."""

import hashlib
import re
from pathlib import Path

import pytest

from enof.errors import ProfileError
from enof.hardware_profiles import GRADES, available_profiles, load_profile, loads_profile

LOIHI_TOML = Path(load_profile("loihi").path)


def test_builtin_profiles_are_listed_and_load():
    assert {"loihi", "loihi2"} <= set(available_profiles())
    for name in available_profiles():
        profile = load_profile(name)
        assert profile.name == name
        # every sourced entry has a known grade and a non-empty source
        entries = list(profile.quantities())
        assert len(entries) > 30
        for where, q in entries:
            assert q.source.strip(), where
            assert set(q.grades) <= GRADES, where


def test_loihi_limits_match_davies2018_and_nengo_loihi():
    p = load_profile("loihi")
    assert p.limits.cores_per_chip.value == 128
    assert p.limits.neurons_per_core.value == 1024
    assert p.limits.input_axons_per_core.value == 4096
    assert p.limits.output_axons_per_core.value == 4096
    assert p.limits.synapse_bits_per_core.value == 16384 * 64 == 1_048_576
    assert p.target.graded_spikes.value is False and p.target.graded_spike_bits.value == 0
    assert (p.fixed_point.weight_exp_min.value, p.fixed_point.weight_exp_max.value) == (-7, 7)
    assert p.fixed_point.state_bits.value == 24 and p.fixed_point.decay_bits.value == 12
    # tiles × cores per tile must cover the chip exactly (placement relies on it)
    assert p.mesh.tiles_x.value * p.mesh.tiles_y.value * p.mesh.cores_per_tile.value == 128
    assert p.mesh.chips_x.value * p.mesh.chips_y.value == p.limits.max_chips.value
    d = p.cost_models["davies2018"]
    assert (d.synop_pj.value, d.neuron_update_active_pj.value, d.neuron_update_inactive_pj.value) == (23.6, 81.0, 52.0)
    assert (d.spike_within_tile_pj.value, d.hop_ew_pj.value, d.hop_ns_pj.value) == (1.7, 3.0, 4.0)
    assert "pre-silicon" in d.synop_pj.grades and "second-hand" in d.synop_pj.grades
    assert p.cost_models["kerasspiking_loihi"].synop_pj.value == pytest.approx(23.6 + 3.5)
    h = p.cost_models["horowitz45nm"]
    assert (h.host_mac_pj.value, h.synop_pj.value) == (4.6, 0.9)
    assert p.cost_models["kerasspiking_cpu"].ann_mac_pj.value == 8600.0
    assert p.cost_models["kerasspiking_gpu"].ann_device.value.startswith("gpu")
    for model in p.cost_models.values():
        assert model.leaves_out and model.description


def test_loihi2_has_graded_spikes_and_grades_its_second_hand_numbers():
    p = load_profile("loihi2")
    assert p.target.graded_spikes.value is True and p.target.graded_spike_bits.value == 24
    assert p.limits.neurons_per_core.value == 8192
    assert p.limits.neurons_per_core.grade == "second-hand"
    assert p.limits.synapse_bits_per_core.value == 192 * 1024 * 8
    m = p.cost_models["lava_dl_pilotnet_measured"]
    assert m.static_power_w.value == 0.232 and m.static_power_w.grade == "measured"


def test_sha256_and_text_are_of_the_file_bytes():
    p = load_profile("loihi")
    assert p.sha256 == hashlib.sha256(LOIHI_TOML.read_bytes()).hexdigest()
    assert p.text == LOIHI_TOML.read_text()


def test_user_profile_path_loads_like_a_builtin(tmp_path):
    text = LOIHI_TOML.read_text().replace('name = "loihi"', 'name = "mychip"')
    text = re.sub(r"neurons_per_core = \{ value = 1024", "neurons_per_core = { value = 256", text)
    path = tmp_path / "mychip.toml"
    path.write_text(text)
    p = load_profile(str(path))
    assert p.name == "mychip" and p.limits.neurons_per_core.value == 256
    assert load_profile(path).sha256 == p.sha256


def _broken(tmp_path, old, new, count=1):
    text = LOIHI_TOML.read_text()
    assert old in text
    path = tmp_path / "broken.toml"
    path.write_text(text.replace(old, new, count))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    msg = str(info.value)
    assert str(path) in msg and "\n" not in msg
    return msg


def test_missing_field_names_file_and_field(tmp_path):
    line = next(l for l in LOIHI_TOML.read_text().splitlines() if l.startswith("neurons_per_core"))
    msg = _broken(tmp_path, line + "\n", "")
    assert msg.endswith("[limits].neurons_per_core: missing")


def test_wrong_type_names_field_and_type(tmp_path):
    msg = _broken(tmp_path, "cores_per_tile = { value = 4,", 'cores_per_tile = { value = "4",')
    assert "[mesh].cores_per_tile.value: expected integer, got str" in msg
    msg = _broken(tmp_path, "weight_bits = { value = 8,", "weight_bits = { value = 8.5,")
    assert "[fixed_point].weight_bits.value: expected integer" in msg


def test_value_without_source_is_refused(tmp_path):
    msg = _broken(tmp_path, 'synop_pj = { value = 23.6, source = "Davies 2018 Table 2: minimum synaptic spike operation energy, 23.6 pJ at 0.75 V", ',
                  "synop_pj = { value = 23.6, ")
    assert "[cost_models.davies2018].synop_pj.source: missing" in msg


def test_unknown_grade_and_unknown_field_are_refused(tmp_path):
    msg = _broken(tmp_path, 'grade = "pre-silicon, second-hand" }', 'grade = "pre-silicon, rumour" }')
    assert "grade: unknown grade 'rumour'" in msg
    msg = _broken(tmp_path, "[mesh]\n", "[mesh]\ncores_per_tiel = { value = 4, source = \"x\", grade = \"assumption\" }\n")
    assert "[mesh].cores_per_tiel: unknown field" in msg


def test_cost_model_without_leaves_out_is_refused(tmp_path):
    line = next(l for l in LOIHI_TOML.read_text().splitlines() if l.startswith("leaves_out"))
    msg = _broken(tmp_path, line + "\n", "")
    assert msg.endswith("[cost_models.sanafe_loihi].leaves_out: missing")


def test_unknown_builtin_name_lists_the_available_ones():
    with pytest.raises(ProfileError, match="unknown target 'loihi3'.*loihi, loihi2"):
        load_profile("loihi3")


def test_profile_from_text_matches_the_file_and_names_the_label_in_errors():
    p = load_profile("loihi2")
    embedded = loads_profile(p.text, "bundle/manifest.json target.profile")
    assert embedded.sha256 == p.sha256 and embedded.limits == p.limits and embedded.path is None
    assert embedded.cost_models["horowitz45nm"].graded_synop_pj.value == 4.6
    with pytest.raises(ProfileError, match=r"^bundle/manifest\.json target\.profile: \[meshh\]: unknown section"):
        loads_profile(p.text.replace("[mesh]", "[meshh]"), "bundle/manifest.json target.profile")


def test_mesh_smaller_than_max_chips_is_refused_naming_both_fields(tmp_path):
    # 32 x 23 = 736 chip positions cannot hold max_chips = 768: hop counts would place chips off the mesh
    msg = _broken(tmp_path, "chips_y = { value = 24,", "chips_y = { value = 23,")
    assert msg.endswith("[limits].max_chips: 768 chips do not fit the 32 x 23 mesh of [mesh] chips_x, chips_y")


def test_sanafe_loihi_holds_sana_fe_arch_loihi_yaml_values():
    # SANA-FE arch/loihi.yaml (commit 4f6bed4): dense synapse 35.5, LIF access 51.2 + update 21.6,
    # spike out 69.3, message out 111.0, hops 3.0 E-W / 4.2 N-S (pJ); it is the first, default, Loihi 1 model
    p = load_profile("loihi")
    m = p.cost_models["sanafe_loihi"]
    assert next(iter(p.cost_models)) == "sanafe_loihi"
    assert m.synop_pj.value == 35.5 and m.spike_within_tile_pj.value == 111.0
    assert m.neuron_update_inactive_pj.value == pytest.approx(51.2 + 21.6)
    assert m.neuron_update_active_pj.value == pytest.approx(51.2 + 21.6 + 69.3)
    assert (m.hop_ew_pj.value, m.hop_ns_pj.value) == (3.0, 4.2)
    assert all("4f6bed48bf87758f56ec39510d3ddcb6196433b4" in q.source for k, q in m.quantities().items()
               if k != "host_mac_pj")
    assert "measured" in m.synop_pj.grades and m.static_power_w is None


def test_loihi2_static_power_is_measured_and_its_time_comes_from_the_timing_model():
    # lava-dl PilotNet LIF: 0.232 W static per chip; no profile borrows PilotNet's step time any more
    p = load_profile("loihi2")
    for name in ("davies2018_proxy", "lava_dl_pilotnet_measured"):
        m = p.cost_models[name]
        assert m.static_power_w.value == 0.232 and m.timestep_us is None
    assert "2445.6" not in p.text and "2,445.6" not in p.text


def test_both_targets_time_a_step_with_sourced_latencies():
    loihi, loihi2 = load_profile("loihi").timing, load_profile("loihi2").timing
    # SANA-FE arch/loihi.yaml: synapse 3.8 ns, access 6.0 + update 3.7 ns, spike 30 ns, in 16 ns, out 5.1 ns
    assert (loihi.synop_ns.value, loihi.neuron_update_ns.value, loihi.spike_out_ns.value) == (3.8, pytest.approx(9.7), 30.0)
    assert (loihi.message_in_ns.value, loihi.message_out_ns.value, loihi.hop_ew_ns.value, loihi.hop_ns_ns.value) == (16.0, 5.1, 4.1, 6.5)
    assert "published" in loihi.synop_ns.grades and "assumption" in loihi.host_to_chip_bytes_per_s.grades
    # SANA-FE's table by tiles in use, the largest key not above the count: 3 tiles → the 2-tile row
    assert [loihi.barrier(n) for n in (1, 2, 3, 4, 28, 29, 128)] == [0.6, 1.0, 1.0, 1.4, 1.4, 1.8, 1.8]
    assert all("assumption" in q.grades for q in (loihi2.synop_ns, loihi2.barrier_us, loihi2.neuron_update_ns))
    # pilotnet_sdnn: 39,600 bytes per frame x 16.87 frames/s
    assert loihi2.host_to_chip_bytes_per_s.value == pytest.approx(39_600 * 16.87, rel=2e-3)
    assert "measured" in loihi2.host_to_chip_bytes_per_s.grades


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("synop_ns = { value = 3.8,", "synop_ns = { value = -3.8,"), "[timing].synop_ns: must be >= 0, got -3.8"),
    (lambda t: t.replace("synop_ns = { value = 3.8,", "synop_ns = { value = nan,"), "[timing].synop_ns.value: must be a finite number, got nan"),
    (lambda t: t.replace("hop_ew_ns = { value = 4.1,", "hop_ew_ns = { value = inf,"), "[timing].hop_ew_ns.value: must be a finite number, got inf"),
    (lambda t: t.replace("host_to_chip_bytes_per_s = { value = 668000.0,", "host_to_chip_bytes_per_s = { value = 0.0,"),
     "[timing].host_to_chip_bytes_per_s: must be > 0, got 0.0"),
    (lambda t: "\n".join(line for line in t.splitlines() if not line.startswith("message_in_ns")), "[timing].message_in_ns: missing"),
    (lambda t: t.replace("[[1, 0.6], [2, 1.0], [4, 1.4], [29, 1.8]]", "[[2, 1.0], [1, 0.6]]"), "[timing].barrier_us.value: expected rows [tiles, us]"),
    (lambda t: t.replace("[[1, 0.6], [2, 1.0], [4, 1.4], [29, 1.8]]", "[]"), "[timing].barrier_us.value: expected rows [tiles, us]"),
    (lambda t: t.replace("ann_power_w = { value = 250.0,", "ann_power_w = { value = 0.0,"),
     "[cost_models.kerasspiking_gpu].ann_power_w: must be > 0, got 0.0"),
    (lambda t: "\n".join(line for line in t.splitlines() if not line.startswith("ann_mac_pj = { value = 300.0,")),
     "[cost_models.kerasspiking_gpu].ann_power_w: given without ann_mac_pj (the ANN's energy it times)"),
])
def test_a_bad_timing_entry_is_one_line_naming_the_field(edit, message):
    text = edit(load_profile("loihi").text)
    with pytest.raises(ProfileError, match=re.escape(f"my.toml: {message}")) as info:
        loads_profile(text, "my.toml")
    assert "\n" not in str(info.value)


def test_a_profile_without_timing_loads_and_models_no_time():
    text = load_profile("loihi").text
    start = text.index("[timing]")
    end = text.index("[cost_models.", start)
    assert loads_profile(text[:start] + text[end:], "old.toml").timing is None
