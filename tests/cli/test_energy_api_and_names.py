"""enof-energy is a thin wrapper of enof.energy (issue 26): the command's JSON is the API's ``to_dict()``, and a
bad argument is refused by both with each side's spelling. Reports show the user's layer names where the export
renamed them (a NIR graph of an nn.Sequential: node "3" became "lif3"): the tables and the plot say "3 (lif3)",
JSON and CSV keep "lif3". On a bundle the real export wrote from such a graph, run by the built-in simulator."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
from typer.testing import CliRunner

import enof
from enof.cli.energy import app
from enof.cli.export import app as export_app
from enof.errors import EnofError

sys.path.insert(0, str(Path(__file__).parent))
from test_export_nir_in import sequential_graph  # noqa: E402  (the nn.Sequential-shaped graph: nodes "0" … "3")


@pytest.fixture(scope="module")
def numeric_run(tmp_path_factory) -> Path:
    """run.json of 16 random inputs through a bundle exported from a NIR graph with nodes named "0" … "3"."""
    folder = tmp_path_factory.mktemp("numeric")
    nir.write(str(folder / "graph.nir"), sequential_graph())
    exported = CliRunner().invoke(export_app, [str(folder / "graph.nir"), "--target", "loihi2", "--timesteps", "3",
                                               "-o", str(folder / "bundle"), "-q"])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    x = np.random.default_rng(3).uniform(0.0, 1.0, (16, 6)).astype(np.float32)
    return enof.run(folder / "bundle", x).save(folder / "run.json")


def _energy(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("flags, keywords", [
    ((), {}),
    (("--model", "horowitz45nm", "--timestep-us", "7.5", "--routing", "all-cores"),
     {"model": "horowitz45nm", "timestep_us": 7.5, "routing": "all-cores"}),
])  # fmt: skip
def test_enof_energy_json_is_the_apis_to_dict(numeric_run, flags, keywords):
    cli = _energy(numeric_run, "--format", "json", *flags)
    assert cli.exit_code == 0, cli.output
    api = enof.energy(numeric_run, **keywords)
    assert json.loads(cli.stdout) == json.loads(json.dumps(api.to_dict()))
    assert api.to_dict()["timestep_us"] == keywords.get("timestep_us") and api.model == keywords.get("model")


def test_a_bad_model_or_timestep_is_refused_in_each_sides_spelling(numeric_run, one_line_error):
    one_line_error(_energy(numeric_run, "--model", "nope"), "--model nope: not a cost model of loihi2", "horowitz45nm")
    with pytest.raises(EnofError, match=r"^model='nope': not a cost model of loihi2 \(.*horowitz45nm"):
        enof.energy(numeric_run, model="nope")
    one_line_error(_energy(numeric_run, "--timestep-us", "-2"), "--timestep-us -2.0: must be > 0")
    with pytest.raises(EnofError, match=r"^timestep_us=-2: must be > 0$"):
        enof.energy(numeric_run, timestep_us=-2)
    with pytest.raises(EnofError, match=r"^timestep_us=inf: must be a finite number$"):
        enof.energy(numeric_run, timestep_us=float("inf"))


def test_tables_show_the_users_node_names_and_json_and_csv_keep_enofs(numeric_run):
    table = _energy(numeric_run, "-o", numeric_run.parent / "energy.txt")
    assert table.exit_code == 0, table.output
    text = (numeric_run.parent / "energy.txt").read_text()
    per_layer = next(line for line in text.splitlines() if line.startswith("│ 3 (lif3)"))
    assert "│ 2 (affine2) " in per_layer  # fed by: the weight node "2", renamed affine2
    assert "│ 1 (lif1)" in text and "│ lif3 " not in text and "│ 0 (affine0)" in text
    report = json.loads(_energy(numeric_run, "--format", "json").stdout)
    assert [(layer["name"], layer["fed_by"]) for layer in report["layers"]] == [("lif1", ["affine0"]), ("lif3", ["affine2"])]
    assert {c["layer"] for c in report["cores"]} == {"lif1", "lif3"}
    rows = list(csv.DictReader(io.StringIO(_energy(numeric_run, "--format", "csv").stdout)))
    assert {r["layer"] for r in rows if r["row"] == "layer"} == {"lif1", "lif3"}
    assert {r["fed_by"] for r in rows if r["row"] == "layer"} == {"affine0", "affine2"}
    assert "│ 3 (lif3)" in str(enof.energy(numeric_run))


def test_the_plot_labels_the_layers_with_the_users_node_names(numeric_run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from enof.runtime.energy.plot import _answer_panel

    report = enof.energy(numeric_run)
    fig, ax = plt.subplots()
    try:
        _answer_panel(ax, report.report, report.energy())
        labels = [t.get_text() for t in ax.get_xticklabels()]
    finally:
        plt.close(fig)
    assert labels[:2] == ["1 (lif1)", "3 (lif3)"] and labels[-1].startswith("ANN (")
