"""A profile's bit widths within what the simulator's arithmetic holds (issue 27): state_bits 90 ended in an
OverflowError at enof-run, 6 ran with every count 0, graded_spike_bits 80 ran; each is now one ProfileError, and
the edges (24, the threshold's own width; 32) load."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import pytest
from typer.testing import CliRunner

from enof.cli.run import app as run_app
from enof.errors import ProfileError
from enof.hardware_profiles import load_profile

LOIHI2 = load_profile("loihi2").text


def _with(text: str, key: str, value: int) -> str:
    changed, count = re.subn(rf"^({key}\s*=\s*\{{\s*value\s*=\s*)\d+", rf"\g<1>{value}", text, flags=re.M)
    assert count == 1
    return changed


@pytest.mark.parametrize("key, value, message", [
    ("state_bits", 6, "[fixed_point].state_bits: 6; expected 24 (a 17-bit threshold mantissa << 6, signed) to 32"),
    ("state_bits", 23, "[fixed_point].state_bits: 23; expected 24"),
    ("state_bits", 33, "[fixed_point].state_bits: 33; expected 24"),
    ("state_bits", 90, "[fixed_point].state_bits: 90; expected 24"),
    ("graded_spike_bits", 33, "[target].graded_spike_bits: 33; expected 0 (binary spikes) to 32"),
    ("graded_spike_bits", 80, "[target].graded_spike_bits: 80; expected 0 (binary spikes) to 32"),
])  # fmt: skip
def test_bit_widths_the_arithmetic_cannot_hold_are_refused(tmp_path, key, value, message):
    (tmp_path / "p.toml").write_text(_with(LOIHI2, key, value))
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile(tmp_path / "p.toml")


@pytest.mark.parametrize("key, value", [("state_bits", 24), ("state_bits", 32), ("graded_spike_bits", 32)])
def test_the_edges_load(tmp_path, key, value):
    (tmp_path / "p.toml").write_text(_with(LOIHI2, key, value))
    profile = load_profile(tmp_path / "p.toml")
    section = profile.fixed_point if key == "state_bits" else profile.target
    assert getattr(section, key).value == value


def test_a_rehashed_manifest_profile_with_90_state_bits_is_one_line_at_enof_run(digits_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(digits_bundle("loihi2")[0], bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    text = _with(manifest["target"]["profile"], "state_bits", 90)
    manifest["target"].update(profile=text, profile_sha256=hashlib.sha256(text.encode()).hexdigest())
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(run_app, [str(bundle), "--limit", "2", "-q", "-o", str(tmp_path / "r.json")])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "[fixed_point].state_bits: 90" in lines[0]
    assert not (tmp_path / "r.json").exists()


def test_a_manifest_with_an_empty_partition_is_refused(digits_bundle, tmp_path):
    """Issue 27: `partition: []` ran; a bundle places at least its chip layers."""
    bundle = tmp_path / "bundle"
    shutil.copytree(digits_bundle("loihi2")[0], bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["partition"] = []
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(run_app, [str(bundle), "--limit", "2", "-q", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 1 and result.stderr.strip() == f"error: {bundle / 'manifest.json'}: field 'partition' is empty"
    assert not (tmp_path / "r.json").exists()
