"""NIR in, numbers pinned by hand through the exporter's NIR entry (prepare_nir_export on a file nir.write
wrote): a Scale after a weight layer scales that layer's output channels (weights and bias); CubaLIF's
tau_syn is refused on both sides of dt (the chip's synapse is instantaneous); the graph's own dt_s
metadata sets each LIF's decay and gain, and an explicit dt_s overrides it."""

from __future__ import annotations

import numpy as np
import pytest

import nir
from enof.errors import UnsupportedModuleError
from enof.exporter.export import prepare_nir_export

DT_S = 1e-4  # snnTorch's importer's dt, written into each graph's metadata here unless a test says otherwise


def _full(shape, value):
    return np.full(shape, value, np.float32)


def _lif(shape, tau, r=1.0, v_threshold=1.0):
    return nir.LIF(tau=_full(shape, tau), r=_full(shape, r), v_leak=_full(shape, 0.0),
                   v_threshold=_full(shape, v_threshold), v_reset=_full(shape, 0.0))  # fmt: skip


def _chain(tmp_path, nodes: dict, metadata: dict | None = None):
    """Nodes in order, each feeding the next, written with nir.write (metadata dt_s = 1e-4 unless given); returns the file."""
    order = list(nodes)
    path = tmp_path / "graph.nir"
    metadata = {"dt_s": DT_S} if metadata is None else metadata
    nir.write(str(path), nir.NIRGraph(nodes, list(zip(order, order[1:])), metadata=metadata, type_check=False))
    return path


def _prepare(path, timesteps=2, dt_s=None):
    return prepare_nir_export(path, "loihi2", timesteps, input_bound=1.0, dt_s=dt_s).graph


# ---- Scale after a weight layer: per output channel of that layer

W_CONV = np.array([[[[0.5]], [[-1.0]]], [[[2.0]], [[0.25]]]], np.float32)  # (C_out 2, C_in 2, 1, 1), not symmetric
B_CONV = np.array([0.125, -0.5], np.float32)


def _conv_scale_graph(tmp_path, scale_before: bool):
    """input (2, 4, 4) → [Scale (2, 3 per channel)] → Conv2d 1×1 → [Scale] → LIF (decay 0.5, gain 1) → Flatten → Affine → LIF."""
    scale = nir.Scale(np.stack([_full((4, 4), 2.0), _full((4, 4), 3.0)]))
    conv = nir.Conv2d((4, 4), W_CONV, 1, 0, 1, 1, B_CONV)
    # snnTorch convention r = 1/(1 − β): gain r·dt/tau = 1 at tau = 2·dt (β = 0.5)
    nodes = {"input": nir.Input({"input": np.array([2, 4, 4])}),
             **({"scale": scale, "conv": conv} if scale_before else {"conv": conv, "scale": scale}),
             "lif": _lif((2, 4, 4), 2 * DT_S, r=2.0), "flat": nir.Flatten({"input": np.array([2, 4, 4])}, start_dim=0),
             "fc": nir.Affine(np.ones((3, 32), np.float32), np.zeros(3, np.float32)), "out_lif": _lif((3,), 2 * DT_S, r=2.0),
             "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    return _chain(tmp_path, nodes)


def test_scale_after_a_conv_multiplies_its_output_channels_weights_and_bias(tmp_path):
    """Scale (2, 3) after Conv2d: row c of the weights and bias[c] times scale[c]:
    W = [[0.5, −1], [2, 0.25]] → [[1, −2], [6, 0.75]], b = [0.125, −0.5] → [0.25, −1.5]."""
    conv = _prepare(_conv_scale_graph(tmp_path, scale_before=False)).nodes["conv"]
    np.testing.assert_allclose(conv.weight[:, :, 0, 0], [[1.0, -2.0], [6.0, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(conv.bias, [0.25, -1.5], rtol=1e-6)


def test_scale_before_a_conv_multiplies_its_input_channels_and_not_its_bias(tmp_path):
    """The other side, for contrast: column c_in times scale[c_in]: [[1, −3], [4, 0.75]], bias unchanged."""
    conv = _prepare(_conv_scale_graph(tmp_path, scale_before=True)).nodes["conv"]
    np.testing.assert_allclose(conv.weight[:, :, 0, 0], [[1.0, -3.0], [4.0, 0.75]], rtol=1e-6)
    np.testing.assert_allclose(conv.bias, [0.125, -0.5], rtol=1e-6)


def test_scale_after_an_affine_multiplies_its_rows_and_bias(tmp_path):
    """Affine W (3, 2) = [[1, 2], [3, 4], [5, 6]], b = [1, 1, 1], then Scale [0.5, 2, −1] → rows scaled."""
    w = np.array([[1, 2], [3, 4], [5, 6]], np.float32)
    nodes = {"input": nir.Input({"input": np.array([2])}), "fc": nir.Affine(w, np.ones(3, np.float32)),
             "scale": nir.Scale(np.array([0.5, 2.0, -1.0], np.float32)), "lif": _lif((3,), 2 * DT_S, r=2.0),
             "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    fc = _prepare(_chain(tmp_path, nodes)).nodes["fc"]
    np.testing.assert_allclose(fc.weight, [[0.5, 1.0], [6.0, 8.0], [-5.0, -6.0]], rtol=1e-6)
    np.testing.assert_allclose(fc.bias, [0.5, 2.0, -1.0], rtol=1e-6)


# ---- CubaLIF: dt/tau_syn must be 1 (within float32 storage, 1e-6 relative)


def _cuba_graph(tmp_path, tau_syn: float):
    cuba = nir.CubaLIF(tau_syn=_full(3, tau_syn), tau_mem=_full(3, 4 * DT_S), r=_full(3, 1.0), v_leak=_full(3, 0.0),
                       v_threshold=_full(3, 1.0), w_in=_full(3, 2.0))  # fmt: skip
    nodes = {"input": nir.Input({"input": np.array([4])}), "fc": nir.Affine(np.ones((3, 4), np.float32), np.zeros(3, np.float32)),
             "cuba": cuba, "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    return _chain(tmp_path, nodes)


@pytest.mark.parametrize("relative", [0.0, 5e-7, -5e-7])
def test_cuba_lif_tau_syn_equal_to_dt_within_float32_is_accepted_with_gain_w_in_r_dt_over_tau_mem(tmp_path, relative):
    """tau_syn = dt (± 5e-7, float32 storage): decay 1 − dt/tau_mem = 0.75, weights × w_in·r·dt/tau_mem = 0.5."""
    graph = _prepare(_cuba_graph(tmp_path, DT_S * (1 + relative)))
    assert graph.nodes["cuba"].decay == pytest.approx(0.75, rel=1e-6)
    np.testing.assert_allclose(graph.nodes["fc"].weight, np.full((3, 4), 0.5), rtol=1e-6)


@pytest.mark.parametrize("relative, shown", [(1.5e-6, "0.999998"), (-1e-5, "1.00001"), (1.0, "0.5"), (-0.5, "2")])
def test_cuba_lif_tau_syn_off_dt_by_more_than_1e_6_is_refused_on_both_sides(tmp_path, relative, shown):
    """tau_syn above dt (a synapse that integrates: dt/tau_syn < 1) and below it (dt/tau_syn > 1) are refused."""
    with pytest.raises(UnsupportedModuleError) as info:
        _prepare(_cuba_graph(tmp_path, DT_S * (1 + relative)))
    assert str(info.value) == (f"cuba: CubaLIF with dt/tau_syn = {shown}; the chip's synapse is instantaneous — "
                               f"use tau_syn = dt (0.0001) or a LIF")


# ---- the graph's own dt_s


def _dense_lif_graph(tmp_path, metadata):
    """Affine (W = 1) → LIF(tau = 4 ms, r = 2): decay 1 − dt/tau, input gain r·dt/tau folded into W."""
    nodes = {"input": nir.Input({"input": np.array([4])}), "fc": nir.Affine(np.ones((3, 4), np.float32), np.zeros(3, np.float32)),
             "lif": _lif((3,), 4e-3, r=2.0), "output": nir.Output({"output": np.array([3])})}  # fmt: skip
    return _chain(tmp_path, nodes, metadata)


def test_graph_metadata_dt_s_1ms_gives_decay_0_75_and_gain_0_5(tmp_path):
    """dt_s = 1e-3 from the file (not enof's 1e-4, which would give decay 0.975 and gain 0.05): dt/tau = 0.25."""
    graph = _prepare(_dense_lif_graph(tmp_path, {"dt_s": 1e-3}))
    assert graph.nodes["lif"].decay == pytest.approx(0.75, rel=1e-6)
    np.testing.assert_allclose(graph.nodes["fc"].weight, np.full((3, 4), 0.5), rtol=1e-6)


def test_graph_metadata_dt_s_1e_4_gives_decay_0_975_and_gain_0_05(tmp_path):
    """The same file written for snnTorch's 1e-4: dt/tau = 0.025."""
    graph = _prepare(_dense_lif_graph(tmp_path, {"dt_s": 1e-4}))
    assert graph.nodes["lif"].decay == pytest.approx(0.975, rel=1e-6)
    np.testing.assert_allclose(graph.nodes["fc"].weight, np.full((3, 4), 0.05), rtol=1e-6)


def test_a_graph_without_dt_s_is_refused_and_an_explicit_dt_s_reads_it(tmp_path):
    """No dt_s in the metadata and none given: refused (NIR is continuous-time); --dt-s 1e-3 gives dt/tau 0.25."""
    path = _dense_lif_graph(tmp_path, {})
    with pytest.raises(UnsupportedModuleError, match="the graph's metadata has no dt_s"):
        _prepare(path)
    assert _prepare(path, dt_s=1e-3).nodes["lif"].decay == pytest.approx(0.75, rel=1e-6)


def test_an_explicit_dt_s_overrides_the_graphs_metadata(tmp_path):
    """--dt-s 2e-3 over a file that says 1e-3: dt/tau = 0.5, decay 0.5, gain 1."""
    graph = _prepare(_dense_lif_graph(tmp_path, {"dt_s": 1e-3}), dt_s=2e-3)
    assert graph.nodes["lif"].decay == pytest.approx(0.5, rel=1e-6)
    np.testing.assert_allclose(graph.nodes["fc"].weight, np.full((3, 4), 1.0), rtol=1e-6)


def test_graph_metadata_timesteps_is_the_samples_step_count(tmp_path):
    graph = prepare_nir_export(_dense_lif_graph(tmp_path, {"dt_s": 1e-3, "timesteps": 7}), "loihi2", None).graph
    assert graph.timesteps == 7
