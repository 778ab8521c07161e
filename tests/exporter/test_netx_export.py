"""enof-export --netx auto|required|off: chip.net.h5 in Loihi 2 bundles whose chip part netx can express, listed and
hashed in the manifest; otherwise the export says why in one line naming the first layer (auto), refuses (required,
exit 1, nothing written) or skips (off). Loihi 2 biases sit at exponent ≥ 6, netx's."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from enof.cli.export import app
from enof.exporter.export import export_bundle
from enof.formats.digest import file_sha256
from enof.formats.netx import NETX_FILE


def test_a_loihi2_digits_bundle_holds_chip_net_h5_with_quant_npzs_integers(digits_checkpoint, tmp_path):
    result = export_bundle(digits_checkpoint, "loihi2", tmp_path / "b", calibrate=8)
    path = tmp_path / "b" / NETX_FILE
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["netx"] == {"file": NETX_FILE} and manifest["files"][NETX_FILE] == file_sha256(path)
    with h5py.File(path, "r") as f, np.load(tmp_path / "b" / "quant.npz") as quant:
        assert [f[f"layer/{i}/type"][()].decode() for i in range(len(f["layer"]))] == ["input", "conv", "conv"]
        assert f["layer/0/shape"][()].tolist() == [1, 8, 8]
        for i, (conv, act) in enumerate((("conv1", "act1"), ("conv2", "act2")), start=1):
            layer = f[f"layer/{i}"]
            assert layer["name"][()].decode() == act
            np.testing.assert_array_equal(layer["weight"][()], quant[f"{conv}.weight_int"])  # O, I, kH, kW: torch's
            assert layer["neuron/vThMant"][()] == quant[f"{act}.vth"] and layer["neuron/vDecay"][()] == quant[f"{act}.dv"]
            assert quant[f"{act}.bias_exp"] >= 6  # Loihi 2: netx's exponent or above
            bias = quant[f"{act}.bias_mant"].astype(np.int64) << (int(quant[f"{act}.bias_exp"]) - 6)
            stored = layer["bias"][()]
            expanded = np.broadcast_to(stored[:, None, None], bias.shape) if stored.ndim == 1 else stored.transpose(2, 1, 0)
            np.testing.assert_array_equal(expanded, bias)
        assert f["layer/2/stride"][()].tolist() == [2, 2] and f["layer/2/padding"][()].tolist() == [1, 1]
    assert result.manifest.netx == {"file": NETX_FILE}


def test_loihi1_biases_keep_their_smallest_exponent(digits_checkpoint, tmp_path):
    """The exponent floor is Loihi 2's (netx's) only: a Loihi 1 bundle keeps the finest bias."""
    export_bundle(digits_checkpoint, "loihi", tmp_path / "b", calibrate=8)
    with np.load(tmp_path / "b" / "quant.npz") as quant:
        assert min(int(quant[k]) for k in quant.files if k.endswith(".bias_exp")) < 6


def test_netx_off_writes_no_file_and_records_it(digits_checkpoint, tmp_path):
    result = CliRunner().invoke(app, [str(digits_checkpoint), "--target", "loihi2", "--calibrate", "4", "--netx", "off",
                                      "-o", str(tmp_path / "b"), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "b" / NETX_FILE).exists()
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["netx"] == {"skipped": "not written (enof-export --netx off)"}


def test_a_residual_network_gets_no_netx_file_and_the_export_names_the_first_residual_layer(tmp_path, checkpoint_writer):
    path = checkpoint_writer(tmp_path / "resnet20.pt", "resnet20", "cifar10", timesteps=1)
    result = CliRunner().invoke(app, [str(path), "--target", "loihi2", "--calibrate", "0", "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("no chip.net.h5"))
    assert "stage1.block0.act2: fed by stage1.block0.conv2 + stage1.block0.shortcut (a residual add)" in line
    assert not (tmp_path / "b" / NETX_FILE).exists()
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert "a residual add" in manifest["netx"]["skipped"] and NETX_FILE not in manifest["files"]
    required = CliRunner().invoke(app, [str(path), "--target", "loihi2", "--calibrate", "0", "--netx", "required",
                                        "-o", str(tmp_path / "r")])  # fmt: skip
    assert required.exit_code == 1 and not (tmp_path / "r").exists()
    assert required.output.strip().startswith("error: --netx required: no chip.net.h5: stage1.block0.act2: fed by")
    assert "\n" not in required.output.strip()


def test_netx_required_on_a_target_without_graded_spikes_is_one_line_exit_1(digits_checkpoint, tmp_path):
    result = CliRunner().invoke(app, [str(digits_checkpoint), "--target", "loihi", "--netx", "required", "-o", str(tmp_path / "b")])
    assert result.exit_code == 1 and not (tmp_path / "b").exists()
    assert result.output.strip() == ("error: --netx required: no chip.net.h5: the loihi target has no graded spikes: "
                                     "netx files are written for Loihi 2 targets (Loihi2SimCfg / Loihi2HwCfg)")


def test_an_unknown_netx_mode_is_a_usage_error(digits_checkpoint):
    assert CliRunner().invoke(app, [str(digits_checkpoint), "--target", "loihi2", "--netx", "maybe"]).exit_code == 2


@pytest.mark.parametrize("mode, expected_exp", [("auto", 6), ("required", 6)])
def test_netx_required_pins_every_bias_at_exponent_6(digits_checkpoint, tmp_path, mode, expected_exp):
    export_bundle(digits_checkpoint, "loihi2", tmp_path / mode, calibrate=8, netx=mode)
    with np.load(tmp_path / mode / "quant.npz") as quant:
        exps = {int(quant[k]) for k in quant.files if k.endswith(".bias_exp")}
    assert min(exps) == expected_exp and (mode == "auto" or exps == {6})
