"""NIR in, hardened (issues 26 and 27): numeric node names deploy, a graph without dt is refused without
--dt-s, the dt/tau refusal names the dt range that works, reset by subtraction and bad parameters or metadata
are one line naming the node or field, a missing file says so. Each refusal beside the value that passes."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
from typer.testing import CliRunner

from enof.cli.export import app

DT_S = 1e-4


def _full(shape, value):
    return np.full(shape, value, np.float32)


def _lif(n, tau=5e-4, r=1.25, v_threshold=0.5, **metadata):
    return nir.LIF(tau=_full(n, tau), r=_full(n, r), v_leak=_full(n, 0.0), v_threshold=_full(n, v_threshold),
                   v_reset=_full(n, 0.0), metadata=metadata)  # fmt: skip


def sequential_graph(lif1=None, lif3=None, metadata=None) -> nir.NIRGraph:
    """What an nn.Sequential(Linear, Leaky, Linear, Leaky) exports as: nodes named "0" … "3"."""
    rng = np.random.default_rng(2)
    nodes = {
        "input": nir.Input({"input": np.array([6])}),
        "0": nir.Affine(rng.normal(0, 1.0, (8, 6)).astype(np.float32), np.zeros(8, np.float32)), "1": lif1 or _lif(8),
        "2": nir.Affine(rng.normal(0, 1.0, (3, 8)).astype(np.float32), np.zeros(3, np.float32)), "3": lif3 or _lif(3),
        "output": nir.Output({"output": np.array([3])}),
    }  # fmt: skip
    order = list(nodes)
    return nir.NIRGraph(nodes, list(zip(order, order[1:])), metadata={"dt_s": DT_S} if metadata is None else metadata,
                        type_check=False)  # fmt: skip


def export(tmp_path, graph, *flags):
    path = tmp_path / "graph.nir"
    nir.write(str(path), graph)
    return CliRunner().invoke(app, [str(path), "--target", "loihi2", "--timesteps", "3", "-o", str(tmp_path / "bundle"), *flags])


def test_numeric_node_names_deploy_and_the_manifest_maps_them_back(tmp_path):
    result = export(tmp_path, sequential_graph(), "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["module_paths"] == {"affine0": "0", "lif1": "1", "affine2": "2", "lif3": "3", "pool": "pool", "readout": "readout"}
    import onnx

    assert [i.name for i in onnx.load(str(tmp_path / "bundle" / "host_out.onnx")).graph.input] == ["lif3"]


def test_a_graph_without_dt_is_refused_until_dt_s_is_given(tmp_path, one_line_error):
    graph = sequential_graph(metadata={})
    one_line_error(export(tmp_path, graph), "graph.nir: the graph's metadata has no dt_s", "--dt-s", "(0, 0.0005]")
    assert not (tmp_path / "bundle").exists()
    result = export(tmp_path, graph, "--dt-s", "1e-4", "-q")
    assert result.exit_code == 0, result.output


def test_the_dt_over_tau_refusal_names_the_dt_range_of_the_whole_graph(tmp_path, one_line_error):
    graph = sequential_graph(lif1=_lif(8, tau=2e-3), lif3=_lif(3, tau=5e-4))
    one_line_error(export(tmp_path, graph, "--dt-s", "1e-3"), "3 (lif3): dt/tau = 2 at dt_s = 0.001", "a dt_s in (0, 0.0005]")
    assert export(tmp_path, graph, "--dt-s", "4e-4", "-q").exit_code == 0  # inside the range: dt/tau = 0.8 and 0.2


@pytest.mark.parametrize(
    "graph, fragments",
    [
        (sequential_graph(lif3=_lif(3, reset="subtract")), ["3 (lif3): node metadata reset='subtract' (reset by subtraction)", "reset to zero"]),
        (sequential_graph(metadata={"dt_s": DT_S, "reset": "subtract"}), ["1 (lif1): graph metadata reset='subtract'"]),
        (sequential_graph(lif1=_lif(8, v_threshold=0.0)), ["1 (lif1): v_threshold = 0", "v_threshold > 0"]),
        (sequential_graph(lif1=_lif(8, v_threshold=-0.5)), ["1 (lif1): v_threshold = -0.5"]),
        (sequential_graph(lif3=_lif(3, tau=0.0)), ["3 (lif3): tau = 0; a time constant must be > 0"]),
        (sequential_graph(lif3=_lif(3, tau=np.nan)), ["3 (lif3): tau holds NaN or Inf"]),
        (sequential_graph(metadata={"dt_s": "1e-4"}), ["graph metadata dt_s = '1e-4', not a number > 0", "--dt-s"]),
        (sequential_graph(metadata={"dt_s": -1e-4}), ["graph metadata dt_s = -0.0001"]),
    ],
)
def test_bad_parameters_and_metadata_are_one_line_naming_the_node_or_field(tmp_path, one_line_error, graph, fragments):
    one_line_error(export(tmp_path, graph), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.nir"]


def test_the_smallest_positive_threshold_passes(tmp_path):
    assert export(tmp_path, sequential_graph(lif1=_lif(8, v_threshold=1e-3)), "-q").exit_code == 0


@pytest.mark.parametrize("value, passes", [("3", False), (2.5, False), (0, False), (4, True)])
def test_timesteps_metadata_is_a_whole_number(tmp_path, one_line_error, value, passes):
    path = tmp_path / "graph.nir"
    nir.write(str(path), sequential_graph(metadata={"dt_s": DT_S, "timesteps": value}))
    result = CliRunner().invoke(app, [str(path), "--target", "loihi2", "-o", str(tmp_path / "bundle"), "-q"])
    if passes:
        assert result.exit_code == 0, result.output
        assert json.loads((tmp_path / "bundle" / "manifest.json").read_text())["timesteps"] == 4
    else:
        one_line_error(result, f"graph metadata timesteps = {value!r}", "pass --timesteps")


def test_a_missing_file_says_it_is_missing(tmp_path, one_line_error):
    result = CliRunner().invoke(app, [str(tmp_path / "gone.nir"), "--target", "loihi2", "--timesteps", "2"])
    one_line_error(result, "gone.nir: no such file")


def test_enof_run_shows_the_users_node_names_beside_enofs_and_run_json_keeps_enofs(tmp_path):
    """Nodes "1" and "3" were renamed lif1 and lif3 for ONNX: the activity table says "3 (lif3)", as the export's
    errors do; run.json and enof.run's layers keep the enof names, and RunResult.shown_name gives the table's."""
    import enof
    from enof.cli.run import app as run_app

    assert export(tmp_path, sequential_graph(), "-q").exit_code == 0
    x = np.random.default_rng(4).uniform(0.0, 1.0, (5, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = CliRunner().invoke(run_app, [str(tmp_path / "bundle"), "--inputs", str(tmp_path / "x.npy"),
                                          "-o", str(tmp_path / "run.json")])  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1].strip() for line in result.output.splitlines() if line.count("│") > 2]
    assert rows == ["1 (lif1)", "3 (lif3)", "total"], result.output
    assert [layer["name"] for layer in json.loads((tmp_path / "run.json").read_text())["layers"]] == ["lif1", "lif3"]
    run = enof.run(tmp_path / "bundle", x)
    assert [layer.name for layer in run.layers] == ["lif1", "lif3"]
    assert [run.shown_name(layer.name) for layer in run.layers] == ["1 (lif1)", "3 (lif3)"]
