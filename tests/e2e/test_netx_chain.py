"""mnist5k through lava-dl netx, as a user runs it: enof-train (short schedule) → enof-export --target loihi2 →
enof-run --backend netx on 20 test images → enof-compare with the built-in simulator: identical.

The short schedule of tests/e2e/test_mnist5k_chain.py (1,000 training images, 3 + 3 epochs). Its first layer's
biases need exponent 7 (a mantissa beyond 13 bits at netx's 6), so the default export says so and writes no
chip.net.h5; --netx required pins every bias at exponent 6 (the first LIF's scale lowered to fit) and writes it.
Tolerance: none (netx runs the same integers in Lava's fixed_pt models).
"""

from __future__ import annotations

import json
import shutil

import pytest


@pytest.fixture(scope="module")
def mnist_model(tmp_path_factory, mnist5k_model):
    root = tmp_path_factory.mktemp("mnist5k-netx")
    shutil.copy(mnist5k_model, root / "model.pt")  # the session's one training (tests/e2e/conftest.py)
    return root


@pytest.mark.timeout(1800)  # the module's training runs in this test's setup: minutes on a shared machine
def test_mnist5k_loihi2_export_writes_chip_net_h5_or_names_the_layer_netx_cannot_take(mnist_model, cli):
    auto = cli("enof-export", "model.pt", "--target", "loihi2", "-o", "bundle-auto", cwd=mnist_model)
    manifest = json.loads((mnist_model / "bundle-auto" / "manifest.json").read_text())
    written = (mnist_model / "bundle-auto" / "chip.net.h5").is_file()
    assert written == (manifest["netx"] == {"file": "chip.net.h5"})
    if not written:  # the export says why, naming the layer
        assert f"no chip.net.h5 (netx): {manifest['netx']['skipped']}" in " ".join(auto.stdout.split())
        assert manifest["netx"]["skipped"].startswith("act")


@pytest.mark.timeout(1800)
def test_mnist5k_loihi2_bundle_runs_in_netx_as_in_the_built_in_simulator(mnist_model, cli):
    cli("enof-export", "model.pt", "--target", "loihi2", "--netx", "required", "-o", "bundle", "-q", cwd=mnist_model)
    assert (mnist_model / "bundle" / "chip.net.h5").is_file()
    cli("enof-run", "bundle", "--backend", "netx", "--limit", "20", "--timeout", "900", "-o", "netx.json", cwd=mnist_model)
    cli("enof-run", "bundle", "--limit", "20", "-o", "fast.json", cwd=mnist_model)
    out = cli("enof-compare", "netx.json", "fast.json", cwd=mnist_model)
    assert "identical" in out.stdout
    netx = json.loads((mnist_model / "netx.json").read_text())
    assert netx["backend"] == "netx" and netx["samples"] == 20 and len(netx["layers"]) == 3
    assert all(layer["spikes"] > 0 for layer in netx["layers"])
