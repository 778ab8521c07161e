"""enof-run --backend netx: the bundle's chip.net.h5 loaded by lava-dl's own netx.hdf5.Network in Lava
(Loihi2SimCfg fixed_pt) gives the built-in simulator's run on 20 samples, on an exported digits bundle and on a
NIR-imported sequential graph; a damaged or hand-edited file is refused in one line before Lava starts.

Tolerance: none. netx builds Lava's own Dense/Conv/LIF from the same integers; predictions, every count per layer
and per core and the per-step counts must be equal. Each netx run starts one Lava worker (~30 s).
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil

import h5py
import nir
import numpy as np
import pytest

from enof.errors import BundleError, RunError
from enof.formats.netx import NETX_FILE
from enof.runtime.bundle import open_bundle
from enof.runtime.run import run_bundle

SAMPLES = 20


def _assert_same_run(netx, fast, layers):
    assert netx.backend == "netx" and fast.backend == "fast"
    assert netx.predictions == fast.predictions
    assert (netx.layers, netx.cores, netx.per_step) == (fast.layers, fast.cores, fast.per_step)
    assert [layer.name for layer in netx.layers] == layers
    assert all(layer.spikes > 0 for layer in netx.layers), [(layer.name, layer.spikes) for layer in netx.layers]


def test_netx_runs_the_exported_digits_bundle_spike_for_spike_with_the_built_in_simulator(digits_bundle, digits_test_set):
    bundle_dir, _ = digits_bundle("loihi2")
    opened = open_bundle(bundle_dir)
    assert opened.manifest.netx == {"file": NETX_FILE} and NETX_FILE in opened.manifest.files
    images, labels = digits_test_set[0][:SAMPLES], digits_test_set[1][:SAMPLES]
    netx = run_bundle(opened, images, labels, backend="netx", timeout_s=600, progress=False)
    fast = run_bundle(opened, images, labels, backend="fast", progress=False)
    _assert_same_run(netx, fast, list(opened.program.layers))


def _lif(shape, beta=0.8, v_threshold=0.5, dt_s=1e-4):
    """snnTorch's NIR convention for Leaky(beta): tau = dt/(1 − β), r = 1/(1 − β), v_leak = 0."""
    full = lambda value: np.full(shape, value, np.float32)  # noqa: E731
    return nir.LIF(tau=full(dt_s / (1 - beta)), r=full(1 / (1 - beta)), v_leak=full(0.0), v_threshold=full(v_threshold),
                   v_reset=full(0.0))  # fmt: skip


def sequential_nir_graph(seed: int = 5) -> nir.NIRGraph:
    """conv 3×3 (1→4) → LIF → conv 3×3/2 (4→6) → LIF → flatten → affine (96→10) → LIF: what another tool writes."""
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(0, 0.9, (4, 1, 3, 3)).astype(np.float32), rng.normal(0, 0.1, 4).astype(np.float32)
    w2, b2 = rng.normal(0, 0.5, (6, 4, 3, 3)).astype(np.float32), rng.normal(0, 0.1, 6).astype(np.float32)
    w3, b3 = rng.normal(0, 0.5, (10, 96)).astype(np.float32), rng.normal(0, 0.1, 10).astype(np.float32)
    nodes = {
        "input": nir.Input({"input": np.array([1, 8, 8])}),
        "conv1": nir.Conv2d((8, 8), w1, 1, 1, 1, 1, b1), "lif1": _lif((4, 8, 8)),
        "conv2": nir.Conv2d((8, 8), w2, 2, 1, 1, 1, b2), "lif2": _lif((6, 4, 4)),
        "flat": nir.Flatten({"input": np.array([6, 4, 4])}, start_dim=0),
        "fc": nir.Affine(w3, b3), "lif3": _lif((10,)),
        "output": nir.Output({"output": np.array([10])}),
    }  # fmt: skip
    order = list(nodes)
    return nir.NIRGraph(nodes, list(zip(order, order[1:])))


def test_netx_runs_a_nir_imported_sequential_graph_spike_for_spike_with_the_built_in_simulator(tmp_path, digits_test_set):
    from enof.exporter.export import NirSource, export_bundle

    nir.write(str(tmp_path / "net.nir"), sequential_nir_graph())
    export_bundle(tmp_path / "net.nir", "loihi2", tmp_path / "bundle", calibrate=16,
                  nir_source=NirSource(timesteps=3, dataset="digits", dt_s=1e-4))  # fmt: skip
    opened = open_bundle(tmp_path / "bundle")
    with h5py.File(opened.file(NETX_FILE), "r") as f:  # a dense layer after netx's flatten: C, H, W order
        assert [f[f"layer/{i}/type"][()].decode() for i in range(len(f["layer"]))] == ["input", "conv", "conv", "flatten", "dense"]
    images, labels = digits_test_set[0][:SAMPLES], digits_test_set[1][:SAMPLES]
    netx = run_bundle(opened, images, labels, backend="netx", timeout_s=600, progress=False)
    fast = run_bundle(opened, images, labels, backend="fast", progress=False)
    _assert_same_run(netx, fast, ["lif1", "lif2", "lif3"])


# ---------------------------------------------------------------- bad input, refused before Lava starts
@pytest.fixture
def edited_bundle(digits_bundle, tmp_path, monkeypatch):
    """edit(fn): a copy of the digits loihi2 bundle whose chip.net.h5 ``fn(h5py.File)`` changed, the manifest's hash
    updated as a hand-editor would; Lava must not start (run_lava fails the test if called)."""
    import enof.runtime.lava.backend as backend

    monkeypatch.setattr(backend, "run_lava", lambda *a, **k: pytest.fail("Lava started on a refused chip.net.h5"))
    source, _ = digits_bundle("loihi2")

    def edit(fn):
        root = tmp_path / "bundle"
        shutil.copytree(source, root)
        buffer = io.BytesIO((root / NETX_FILE).read_bytes())
        with h5py.File(buffer, "r+") as f:
            fn(f)
        (root / NETX_FILE).write_bytes(buffer.getvalue())
        manifest = json.loads((root / "manifest.json").read_text())
        manifest["files"][NETX_FILE] = hashlib.sha256(buffer.getvalue()).hexdigest()
        (root / "manifest.json").write_text(json.dumps(manifest))
        return open_bundle(root)

    return edit


def _replace(path, value):
    def fn(f):
        del f[path]
        f.create_dataset(path, data=value)
    return fn


def _run_netx(opened, digits_test_set):
    return run_bundle(opened, digits_test_set[0][:2], None, backend="netx", timeout_s=60, progress=False)


@pytest.mark.parametrize("fn, words", [
    (lambda f: f["layer/1/weight"].__setitem__((0, 0, 1, 1), f["layer/1/weight"][0, 0, 1, 1] + 2), "act1: weight"),
    (_replace("layer/2/type", np.bytes_("pooling")), "netx skips unknown types silently"),
    (lambda f: f["layer"].__delitem__("2"), "1 weight layers, chip.nir has 2 LIF layers (act1, act2)"),
    (_replace("layer/2/shape", np.array([8, 4, 4])), "act2: shape is (8, 4, 4), chip.nir and quant.npz say"),
    (_replace("layer/1/neuron/vThMant", np.int64(7)), "act1: neuron vThMant is 7"),
    (_replace("layer/1/stride", np.array([2, 2])), "act1: stride is (2, 2)"),
    (lambda f: f["layer"].__delitem__("1"), "layer groups must be '0' … 'n-1'"),
])  # fmt: skip
def test_a_hand_edited_chip_net_h5_is_refused_in_one_line_before_lava_starts(edited_bundle, digits_test_set, fn, words):
    opened = edited_bundle(fn)
    with pytest.raises(BundleError) as info:
        _run_netx(opened, digits_test_set)
    assert words in str(info.value) and "\n" not in str(info.value) and NETX_FILE in str(info.value)


def test_a_damaged_chip_net_h5_fails_its_hash_when_the_bundle_opens(digits_bundle, tmp_path):
    source, _ = digits_bundle("loihi2")
    shutil.copytree(source, tmp_path / "bundle")
    data = (tmp_path / "bundle" / NETX_FILE).read_bytes()
    (tmp_path / "bundle" / NETX_FILE).write_bytes(data[:-100])
    with pytest.raises(BundleError, match=f"{NETX_FILE}: sha256 mismatch"):
        open_bundle(tmp_path / "bundle")


def test_backend_netx_on_a_bundle_without_the_file_names_the_exports_reason(digits_bundle, digits_test_set):
    opened = open_bundle(digits_bundle("loihi")[0])
    assert "no graded spikes" in opened.manifest.netx["skipped"]
    with pytest.raises(RunError) as info:
        _run_netx(opened, digits_test_set)
    assert f"no {NETX_FILE} for --backend netx: the loihi target has no graded spikes" in str(info.value)


def test_counting_leaves_netxs_own_network_as_netx_built_it(digits_bundle, digits_test_set):
    """The taps listen beside netx's layers: the neurons stay Lava's own LIFReset (netx's, reset every T steps at
    netx's pipelined offsets), fed by netx's own synapses; each tap is one more destination of a layer's output."""
    from lava.proc.lif.process import LIFReset

    from enof.runtime.netx.file import netx_file_for_run
    from enof.runtime.netx.network import NetxNetwork
    from enof.runtime.netx.procs.processes import SpikeTap

    opened = open_bundle(digits_bundle("loihi2")[0])
    program = opened.program
    network = NetxNetwork(program, program.quantize_input(digits_test_set[0][:2]), netx_file_for_run(opened))
    layers = network.net.layers
    assert [type(layer.neuron) for layer in layers] == [LIFReset] * len(program.layers)
    assert [layer.neuron.proc_params["reset_offset"] for layer in layers] == [2 + i for i in range(len(layers))]
    assert all(layer.neuron.proc_params["reset_interval"] == program.timesteps for layer in layers)
    following = [*layers[1:], network.net]  # the next layer's input, or netx's own output port for the last
    for layer, after in zip(layers, following):
        targets = [port.process for port in layer.out.out_connections]
        assert len(targets) == 2 and after in targets and sum(isinstance(p, SpikeTap) for p in targets) == 1


def test_backend_netx_without_lava_dl_installed_says_how_to_install_it(digits_bundle, digits_test_set, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "lava.lib.dl" else real(name, *a))
    with pytest.raises(RunError, match="needs lava-dl 0.6.0 .*not installed: run make install"):
        _run_netx(open_bundle(digits_bundle("loihi2")[0]), digits_test_set)
