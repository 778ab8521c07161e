"""NIR in (issue 10, deliverable 3): graphs written in other tools' conventions deploy through enof-export.

The graphs are built through the nir API in each tool's convention, because the tools' own exporters
fail with nir 1.0.8 (issue 10: snnTorch 1.0.0's export_to_nir writes Conv2d with input_shape=None, which
nir's type inference rejects; Norse 1.1's to_nir writes Flatten as a None node nir.write cannot store).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nir
from enof.errors import UnsupportedModuleError
from enof.exporter.from_nir import graph_from_nir
from enof.exporter.graph import LifNode, PoolNode, WeightNode

DT_S = 1e-4  # snnTorch's importer's dt (snntorch/import_nir.py)
BETA, V_THRESHOLD, T = 0.8, 0.5, 4


def _full(shape, value):
    return np.full(shape, value, np.float32)


def snntorch_lif(shape, beta=BETA, v_threshold=V_THRESHOLD, **change):
    """snnTorch's NIR convention for Leaky(beta): tau = dt/(1 − β), r = 1/(1 − β), v_leak = 0."""
    fields = dict(tau=_full(shape, DT_S / (1 - beta)), r=_full(shape, 1 / (1 - beta)), v_leak=_full(shape, 0.0),
                  v_threshold=_full(shape, v_threshold), v_reset=_full(shape, 0.0))  # fmt: skip
    fields.update(change)
    return nir.LIF(**fields)


class SnnTorchConvNet(nn.Module):
    """conv(1→4) → Leaky → AvgPool2d(2) → conv(4→6) → Leaky → Flatten → Linear(96→10) → Leaky, reset to zero."""

    def __init__(self, betas=(BETA, BETA, BETA)):
        import snntorch

        super().__init__()
        torch.manual_seed(3)
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 4 * 4, 10)
        with torch.no_grad():  # random weights scaled so every layer spikes on the digits
            for layer, gain in ((self.conv1, 6.0), (self.conv2, 4.0), (self.fc, 4.0)):
                layer.weight.mul_(gain)
        self.betas = tuple(betas)
        self.lifs = nn.ModuleList(
            snntorch.Leaky(beta=beta, threshold=V_THRESHOLD, reset_mechanism="zero") for beta in self.betas
        )

    def forward(self, x: torch.Tensor, steps: int) -> list[torch.Tensor]:
        """Spikes (T, B, *shape) of the three layers for a static input x (B, 1, 8, 8)."""
        mems = [lif.init_leaky() for lif in self.lifs]
        out = [[], [], []]
        for _ in range(steps):
            s1, mems[0] = self.lifs[0](self.conv1(x), mems[0])
            s2, mems[1] = self.lifs[1](self.conv2(nn.functional.avg_pool2d(s1, 2)), mems[1])
            s3, mems[2] = self.lifs[2](self.fc(s2.flatten(1)), mems[2])
            for store, s in zip(out, (s1, s2, s3)):
                store.append(s)
        return [torch.stack(s) for s in out]

    def nir_graph(self, **metadata) -> nir.NIRGraph:
        def arrays(layer):
            return layer.weight.detach().numpy(), layer.bias.detach().numpy()

        w1, b1 = arrays(self.conv1)
        w2, b2 = arrays(self.conv2)
        w3, b3 = arrays(self.fc)
        nodes = {
            "input": nir.Input({"input": np.array([1, 8, 8])}),
            "conv1": nir.Conv2d((8, 8), w1, 1, 1, 1, 1, b1), "lif1": snntorch_lif((4, 8, 8), self.betas[0]),
            "pool1": nir.AvgPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
            "conv2": nir.Conv2d((4, 4), w2, 1, 1, 1, 1, b2), "lif2": snntorch_lif((6, 4, 4), self.betas[1]),
            "flat": nir.Flatten({"input": np.array([6, 4, 4])}, start_dim=0),
            "fc": nir.Affine(w3, b3), "lif3": snntorch_lif((10,), self.betas[2]),
            "output": nir.Output({"output": np.array([10])}),
        }  # fmt: skip
        order = list(nodes)
        return nir.NIRGraph(nodes, list(zip(order, order[1:])), metadata=metadata)


def test_snntorch_convention_maps_to_decay_beta_and_unit_gain():
    net = SnnTorchConvNet()
    graph = graph_from_nir(net.nir_graph(), T, DT_S)
    lifs = [n for n in graph.nodes.values() if isinstance(n, LifNode)]
    assert [n.name for n in lifs] == ["lif1", "lif2", "lif3"]
    for lif in lifs:  # decay = 1 − dt/tau = β, the Euler gain r·dt/tau = 1 (float32 parameters: 1e-6)
        assert lif.decay == pytest.approx(BETA, rel=1e-6) and lif.v_threshold == pytest.approx(V_THRESHOLD)
    conv2 = graph.nodes["conv2"]  # AvgPool2d(2) folded into it: a 6×6 kernel of w/4 at stride 2, padding 2
    assert isinstance(conv2, WeightNode) and conv2.kind == "conv" and conv2.stride == (2, 2) and conv2.padding == (2, 2)
    w2 = net.conv2.weight.detach().numpy()
    np.testing.assert_allclose(conv2.weight[:, :, :2, :2], np.repeat(w2[:, :, :1, :1], 2, 2).repeat(2, 3) / 4, rtol=1e-5)
    np.testing.assert_allclose(graph.nodes["fc"].bias, net.fc.bias.detach().numpy(), rtol=1e-5)
    assert isinstance(graph.nodes["pool"], PoolNode) and graph.output == "readout"
    np.testing.assert_array_equal(graph.nodes["readout"].weight, np.eye(10, dtype=np.float32))


def test_norse_convention_gain_dt_over_tau_is_folded_into_the_weights():
    """Norse's LIFBox → NIR: tau = 1/tau_mem_inv (s), r = 1, v_leak = 0; its from_nir steps dt = 1e-3.
    At dt = 1e-3, tau = 1e-2: decay 0.9, the input gain dt/tau = 0.1 goes into the weights and bias."""
    w, b = np.ones((3, 5), np.float32), np.full(3, 2.0, np.float32)
    lif = nir.LIF(tau=_full(3, 1e-2), r=_full(3, 1.0), v_leak=_full(3, 0.0), v_threshold=_full(3, 1.0), v_reset=_full(3, 0.0))
    g = nir.NIRGraph({"input": nir.Input({"input": np.array([5])}), "fc": nir.Affine(w, b), "lif": lif,
                      "output": nir.Output({"output": np.array([3])})},
                     [("input", "fc"), ("fc", "lif"), ("lif", "output")])  # fmt: skip
    graph = graph_from_nir(g, 2, 1e-3)
    assert graph.nodes["lif"].decay == pytest.approx(0.9)
    np.testing.assert_allclose(graph.nodes["fc"].weight, 0.1 * w, rtol=1e-6)
    np.testing.assert_allclose(graph.nodes["fc"].bias, 0.1 * b, rtol=1e-6)


def test_cuba_lif_with_instantaneous_synapse_sumpool_and_scale_fold_into_the_weights():
    """CubaLIF(tau_syn = dt): I = w_in·S in one Euler step; SumPool2d(2) = 4·AvgPool2d(2); Scale(3) before a
    conv multiplies its weights (not its bias); gains multiply: the conv weights are w·3·4/4·(w_in·r·dt/tau)."""
    shape = (2, 4, 4)
    w = np.ones((2, 2, 1, 1), np.float32)
    cuba = nir.CubaLIF(tau_syn=_full((2, 4, 4), DT_S), tau_mem=_full((2, 4, 4), 2 * DT_S), r=_full((2, 4, 4), 1.0),
                       v_leak=_full((2, 4, 4), 0.0), v_threshold=_full((2, 4, 4), 1.0), w_in=2.0)  # fmt: skip
    nodes = {"input": nir.Input({"input": np.array([2, 8, 8])}), "c0": nir.Conv2d((8, 8), w, 1, 0, 1, 1, np.zeros(2, np.float32)),
             "l0": snntorch_lif((2, 8, 8)), "sum": nir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0])),
             "scale": nir.Scale(np.full(shape, 3.0, np.float32)), "c1": nir.Conv2d((4, 4), w, 1, 0, 1, 1, np.ones(2, np.float32)),
             "cuba": cuba, "flat": nir.Flatten({"input": np.array(shape)}, start_dim=0),
             "fc": nir.Affine(np.ones((3, 32), np.float32), np.zeros(3, np.float32)), "l2": snntorch_lif((3,)),
             "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    order = list(nodes)
    graph = graph_from_nir(nir.NIRGraph(nodes, list(zip(order, order[1:]))), 2, DT_S)
    c1 = graph.nodes["c1"]
    assert graph.nodes["cuba"].decay == pytest.approx(0.5)
    np.testing.assert_allclose(c1.weight, np.full((2, 2, 2, 2), 3.0 * 4 / 4 * 2.0 * 0.5), rtol=1e-6)
    np.testing.assert_allclose(c1.bias, np.full(2, 2.0 * 0.5), rtol=1e-6)  # the Scale is on its input, not its bias


def test_a_per_channel_scale_before_flatten_reaches_the_dense_weights_channel_major():
    """Scale (2, 3 per channel) → Flatten → Affine: the 8 flat inputs are channel-major (torch order), so the
    first 4 weight columns take 2, the last 4 take 3; times the LIF gain r·dt/tau = 1.25·0.2 = 0.25."""
    shape = (2, 2, 2)
    nodes = {"input": nir.Input({"input": np.array([1, 2, 2])}),
             "c": nir.Conv2d((2, 2), np.ones((2, 1, 1, 1), np.float32), 1, 0, 1, 1, np.zeros(2, np.float32)),
             "l": snntorch_lif(shape), "s": nir.Scale(np.stack([_full((2, 2), 2.0), _full((2, 2), 3.0)])),
             "flat": nir.Flatten({"input": np.array(shape)}, start_dim=0),
             "fc": nir.Affine(np.ones((3, 8), np.float32), np.zeros(3, np.float32)),
             "l2": nir.LIF(tau=_full(3, 5 * DT_S), r=_full(3, 1.25), v_leak=_full(3, 0.0), v_threshold=_full(3, 1.0),
                           v_reset=_full(3, 0.0)),
             "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    order = list(nodes)
    graph = graph_from_nir(nir.NIRGraph(nodes, list(zip(order, order[1:]))), 2, DT_S)
    np.testing.assert_allclose(graph.nodes["fc"].weight, np.tile([0.5] * 4 + [0.75] * 4, (3, 1)), rtol=1e-6)


def test_affine_readout_after_the_last_lif_runs_on_the_host_as_the_logits():
    nodes = {"input": nir.Input({"input": np.array([4])}), "fc1": nir.Affine(np.ones((5, 4), np.float32), np.zeros(5, np.float32)),
             "lif": snntorch_lif((5,)), "head": nir.Linear(np.full((2, 5), 0.5, np.float32)),
             "output": nir.Output({"output": np.array([2])})}  # fmt: skip
    order = list(nodes)
    graph = graph_from_nir(nir.NIRGraph(nodes, list(zip(order, order[1:]))), 3, DT_S)
    assert graph.output == "head" and graph.nodes["head"].sources == ("pool",) and graph.nodes["pool"].sources == ("lif",)
    assert isinstance(graph.nodes["head"], WeightNode) and graph.nodes["head"].kind == "dense"
    np.testing.assert_array_equal(graph.nodes["head"].bias, np.zeros(2, np.float32))


def _dense_graph(lif=None, extra_edges=(), metadata=None):
    nodes = {"input": nir.Input({"input": np.array([4])}), "fc": nir.Affine(np.ones((3, 4), np.float32), np.zeros(3, np.float32)),
             "lif": lif if lif is not None else snntorch_lif((3,)), "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "output"), *extra_edges]
    return nir.NIRGraph(nodes, edges, metadata=metadata or {}, type_check=False)


@pytest.mark.parametrize(
    "graph, expected",
    [
        (_dense_graph(snntorch_lif((3,), v_leak=np.array([0.0, 0.1, 0.0], np.float32))), "lif: v_leak differs between neurons"),
        (_dense_graph(snntorch_lif((3,), v_leak=_full(3, 0.2))), "lif: v_leak ≠ 0"),
        (_dense_graph(snntorch_lif((3,), v_reset=_full(3, -1.0))), "lif: v_reset ≠ 0"),
        (_dense_graph(snntorch_lif((3,), v_threshold=np.array([1.0, 2.0, 1.0], np.float32))), "lif: v_threshold differs between neurons"),
        (_dense_graph(snntorch_lif((4,))), "lif: v_leak has shape (4,), its input has shape (3,)"),
        (_dense_graph(metadata={"reset": "subtract"}), "lif: graph metadata reset='subtract' (reset by subtraction)"),
        (_dense_graph(extra_edges=[("lif", "fc")]), "recurrent edges (fc → lif, lif → fc)"),
        (_dense_graph(nir.Threshold(_full(3, 1.0))), "lif: NIR node type Threshold is not supported; enof reads Input"),
    ],
)
def test_what_the_chip_cannot_compute_exactly_is_refused_by_node_name(graph, expected):
    with pytest.raises(UnsupportedModuleError) as info:
        graph_from_nir(graph, 2, DT_S)
    assert expected in str(info.value) and "\n" not in str(info.value)


@pytest.fixture(scope="module")
def snntorch_bundle(tmp_path_factory):
    """(net, NIR path, loihi2 bundle): SnnTorchConvNet's graph in snnTorch's convention, written by
    nir.write, deployed by the enof-export console command for the digits data set."""
    from typer.testing import CliRunner

    from enof.cli.export import app

    root = tmp_path_factory.mktemp("from-nir")
    net = SnnTorchConvNet()
    nir.write(str(root / "net.nir"), net.nir_graph())
    result = CliRunner().invoke(app, [str(root / "net.nir"), "--target", "loihi2", "--timesteps", str(T), "--dt-s", str(DT_S),
                                      "--dataset", "digits", "--calibrate", "16", "-o", str(root / "bundle"), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return net, root / "net.nir", root / "bundle"


def test_snntorch_net_through_enof_export_gives_snntorchs_own_spikes_in_float(snntorch_bundle, digits_test_set):
    """Tolerance: ≥ 99.9 % of spikes per layer, not 100 %: enof folds AvgPool2d into the next conv
    (a 6×6 kernel of w/4 at stride 2) and runs in float32 with another summation order than snnTorch's
    pool-then-conv, so a membrane within ~1e-7 relative of the threshold can land on the other side."""
    from enof.runtime.bundle import open_bundle
    from enof.runtime.fast.simulate import simulate

    net, _, bundle_dir = snntorch_bundle
    images, _ = digits_test_set
    with torch.no_grad():
        expected = [s.numpy() for s in net(torch.from_numpy(images), T)]
    run = simulate(open_bundle(bundle_dir).program, images, "float", record_spikes=True)
    for name, spikes in zip(("lif1", "lif2", "lif3"), expected):
        assert 0.02 < spikes.mean() < 0.9, (name, spikes.mean())  # every layer fires, not everywhere: not vacuous
        agreement = (run.spikes[name] == spikes).mean()
        assert agreement >= 0.999, (name, agreement)


def test_a_decay_per_layer_survives_the_bundle_and_matches_snntorch(tmp_path, digits_test_set):
    """chip.nir carries each LIF's decay in its node metadata when the layers differ (its graph metadata's one
    decay fits only a network of one decay). Spike tolerance as above."""
    from enof.exporter.export import NirSource, export_bundle
    from enof.runtime.bundle import open_bundle
    from enof.runtime.fast.simulate import simulate

    net = SnnTorchConvNet(betas=(0.9, 0.5, 0.7))
    nir.write(str(tmp_path / "net.nir"), net.nir_graph())
    result = export_bundle(tmp_path / "net.nir", "loihi2", tmp_path / "bundle", calibrate=0, nir_source=NirSource(T, dt_s=DT_S))
    images = digits_test_set[0]
    program = open_bundle(result.out_dir).program
    # 1e-7: the source graph's tau is float32 (6e-8 relative), so 1 − dt/tau is β to that, not exactly
    assert [program.layers[n].decay for n in ("lif1", "lif2", "lif3")] == pytest.approx([0.9, 0.5, 0.7], abs=1e-7)
    run = simulate(program, images, "float", record_spikes=True)
    with torch.no_grad():
        expected = [s.numpy() for s in net(torch.from_numpy(images), T)]
    for name, spikes in zip(("lif1", "lif2", "lif3"), expected):
        assert (run.spikes[name] == spikes).mean() >= 0.999, name


def test_nir_bundle_runs_fixed_point_in_lava_as_in_the_built_in_simulator(snntorch_bundle, digits_test_set):
    """Tolerance: none — both backends compute the same integers (design.md §6)."""
    from enof.runtime.bundle import open_bundle
    from enof.runtime.fast.simulate import simulate
    from enof.runtime.lava.backend import run_lava

    program = open_bundle(snntorch_bundle[2]).program
    x = digits_test_set[0][:4]
    lava_run, fast_run = run_lava(program, x, "fixed", timeout_s=120), simulate(program, x, "fixed")
    for name in program.layers:
        np.testing.assert_array_equal(lava_run.spike_counts[name], fast_run.spike_counts[name], err_msg=name)
    assert sum(int(c.sum()) for c in fast_run.spike_counts.values()) > 0


def test_enof_run_classifies_the_digits_with_the_nir_bundle(snntorch_bundle, tmp_path):
    """The bundle is a product one: enof-run (both precisions) reads it; the logits are lif3's spike rates."""
    import json

    from typer.testing import CliRunner

    from enof.cli.run import app as run_app

    for precision in ("float", "fixed"):
        out = tmp_path / f"{precision}.json"
        result = CliRunner().invoke(run_app, [str(snntorch_bundle[2]), "--precision", precision, "--limit", "20", "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        assert json.loads(out.read_text())["samples"] == 20


@pytest.mark.parametrize("target", ["loihi2", "loihi"])
def test_if_layers_deploy_as_decay_one_and_run_as_euler_integrators(tmp_path, target):
    """IF dv/dt = r·I: v ← v + r·dt·I, no leak. Against the Euler recurrence by hand in float64 (tolerance:
    none on these values — weights 0.25·k and r·dt = 2 make every membrane a multiple of 1/8, exact in float32);
    chip.nir writes the layers back as NIR IF nodes. On Loihi 1 the first IF takes host_in's current."""
    from enof.exporter.export import NirSource, export_bundle
    from enof.runtime.bundle import open_bundle
    from enof.runtime.fast.simulate import simulate
    from enof.runtime.host import open_session, run_host_in

    rng = np.random.default_rng(5)
    w1, w2 = rng.integers(-2, 4, (6, 4)) * 0.25, rng.integers(-2, 4, (3, 6)) * 0.25
    b1 = rng.integers(-1, 2, 6) * 0.125
    nif = lambda n, thr: nir.IF(r=_full(n, 2.0 / DT_S), v_threshold=_full(n, thr), v_reset=_full(n, 0.0))  # noqa: E731
    nodes = {"input": nir.Input({"input": np.array([4])}), "fc1": nir.Affine(w1.astype(np.float32), b1.astype(np.float32)),
             "if1": nif(6, 1.0), "fc2": nir.Affine(w2.astype(np.float32), np.zeros(3, np.float32)), "if2": nif(3, 0.75),
             "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    order = list(nodes)
    nir.write(str(tmp_path / "if.nir"), nir.NIRGraph(nodes, list(zip(order, order[1:])), metadata={"dt_s": DT_S}))
    out = export_bundle(tmp_path / "if.nir", target, tmp_path / "b", calibrate=0, nir_source=NirSource(6, input_bound=1.0)).out_dir
    x = rng.integers(0, 5, (16, 4)) * 0.25
    s1 = _if_layer(np.broadcast_to(x @ w1.T + b1, (6, 16, 6)), 1.0)
    s2 = _if_layer(s1 @ w2.T, 0.75)
    bundle = open_bundle(out)
    assert bundle.program.layers["if1"].decay == 1.0 and isinstance(nir.read(str(out / "chip.nir")).nodes["if1"], nir.IF)
    chip_in = run_host_in(open_session(out / "host_in.onnx"), x.astype(np.float32)) if target == "loihi" else x.astype(np.float32)
    run = simulate(bundle.program, chip_in, "float", record_spikes=True)
    assert 0.05 < s1.mean() < 0.95 and 0.05 < s2.mean() < 0.95  # both layers fire, not everywhere
    np.testing.assert_array_equal(run.spikes["if1"], s1)
    np.testing.assert_array_equal(run.spikes["if2"], s2)


def _if_layer(current_per_step: np.ndarray, thr: float) -> np.ndarray:
    """IF with r·dt = 2 over a current that changes per step (T, B, N)."""
    v, out = np.zeros(current_per_step.shape[1:]), []
    for current in current_per_step:
        v = v + 2.0 * current
        spikes = (v > thr).astype(np.float64)
        v = v * (1 - spikes)
        out.append(spikes)
    return np.stack(out)


def test_norse_convention_graph_through_enof_export_gives_norses_own_spikes(tmp_path, digits_test_set):
    """A conv SNN in Norse's convention (LIFBox: tau = 1e-2 s, r = 1, v_leak = 0) run by
    ``norse.torch.from_nir(graph, dt=1e-3)`` and by enof after ``enof-export --dt-s 1e-3``. Tolerance ≥ 99.9 %
    per layer, not 100 %: Norse integrates ``v + dt/tau·(−v + I)``, enof ``0.9·v + 0.1·I`` with 0.1 folded into
    float32 weights, so a membrane within rounding of the threshold may fall on either side."""
    import norse.torch
    from typer.testing import CliRunner

    from enof.cli.export import app
    from enof.runtime.bundle import open_bundle
    from enof.runtime.fast.simulate import simulate

    rng = np.random.default_rng(11)
    w1, b1 = (rng.normal(0, 6.0, (4, 1, 3, 3))).astype(np.float32), rng.normal(0, 2.0, 4).astype(np.float32)
    w2, b2 = (rng.normal(0, 3.0, (10, 4 * 4 * 4))).astype(np.float32), np.zeros(10, np.float32)

    def norse_lif(shape):
        return nir.LIF(tau=_full(shape, 1e-2), r=_full(shape, 1.0), v_leak=_full(shape, 0.0),
                       v_threshold=_full(shape, 1.0), v_reset=_full(shape, 0.0))  # fmt: skip

    nodes = {"input": nir.Input({"input": np.array([1, 8, 8])}), "conv": nir.Conv2d((8, 8), w1, 2, 1, 1, 1, b1),
             "lif1": norse_lif((4, 4, 4)), "flat": nir.Flatten({"input": np.array([4, 4, 4])}, start_dim=0),
             "fc": nir.Affine(w2, b2), "lif2": norse_lif((10,)), "output": nir.Output({"output": np.array([10])})}  # fmt: skip
    order = list(nodes)
    graph = nir.NIRGraph(nodes, list(zip(order, order[1:])))
    nir.write(str(tmp_path / "norse.nir"), graph)
    result = CliRunner().invoke(app, [str(tmp_path / "norse.nir"), "--target", "loihi2", "--timesteps", str(T),
                                      "--dt-s", "1e-3", "--calibrate", "0", "-o", str(tmp_path / "bundle"), "-q"])  # fmt: skip
    assert result.exit_code == 0, result.output
    images = digits_test_set[0]
    run = simulate(open_bundle(tmp_path / "bundle").program, images, "float", record_spikes=True)

    module = norse.torch.from_nir(nir.read(str(tmp_path / "norse.nir")), dt=1e-3)
    recorded = {"lif1": [], "lif2": []}
    for name, sub in module.named_modules():
        if name in recorded:
            sub.register_forward_hook(lambda _m, _i, out, name=name: recorded[name].append(out[0]))
    with torch.no_grad():  # one sample at a time: Norse 1.1 maps NIR's Flatten(start_dim=0) to torch's, batch included
        for image in torch.from_numpy(images):
            state = None
            for _ in range(T):
                _, state = module(image, state)
    for name, steps in recorded.items():
        theirs = torch.stack(steps).unflatten(0, (len(images), T)).transpose(0, 1).numpy()  # (T, B, *shape)
        assert 0.02 < theirs.mean() < 0.9, (name, theirs.mean())
        assert (run.spikes[name] == theirs).mean() >= 0.999, name
