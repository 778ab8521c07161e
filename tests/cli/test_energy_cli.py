"""enof-energy on a bundle written by enof.formats.bundle.write_bundle (real chip.nir, quant.npz, ONNX host
parts, placement.json) and a run.json that enof.runtime.run.run_bundle produced from it (fast simulator,
ONNX Runtime, enof.runtime.counts)."""

import csv
import hashlib
import io
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nir
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from enof.cli.energy import app
from enof.exporter.host_macs import host_macs
from enof.formats.dataset_record import DatasetSpec
from enof.formats.bundle import write_bundle
from enof.formats.manifest import Manifest, PartitionRecord, TargetInfo
from enof.formats.placement import LayerPlacement, PlacedCore, Placement
from enof.formats.quant import FixedPointRanges
from enof.formats.run_result import write_run_result
from enof.hardware_profiles import load_profile
from enof.runtime.program import INPUT
from enof.runtime.bundle import open_bundle
from enof.runtime.energy.time_report import format_time
from enof.runtime.energy.report import format_energy
from enof.runtime.run import run_bundle

SAMPLES = 3
IMAGE = (1, 8, 8)


def _chip_nir(program) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array(program.input_shape)})}
    edges = []
    for name, layer in program.layers.items():
        full = lambda v: np.full(layer.shape, v, np.float32)  # noqa: E731
        nodes[name] = nir.LIF(tau=full(4e-3 / 3), r=full(4 / 3), v_leak=full(0.0), v_threshold=full(0.5), v_reset=full(0.0))
    for syn in program.synapses:
        src = "input" if syn.source == INPUT else syn.source
        if syn.kind == "current":
            edges.append((src, syn.target))
            continue
        if syn.kind == "conv":
            shape = program.shape_of(syn.source)
            nodes[syn.name] = nir.Conv2d(
                input_shape=tuple(shape[1:]), weight=syn.weight, stride=syn.stride, padding=syn.padding,
                dilation=(1, 1), groups=1, bias=np.zeros(syn.weight.shape[0], np.float32),
            )
        else:
            flat = f"{syn.name}.flatten"
            nodes[flat] = nir.Flatten(input_type={"input": np.array(program.shape_of(syn.source))}, start_dim=0)
            edges.append((src, flat))
            src = flat
            nodes[syn.name] = nir.Linear(weight=syn.weight)
        edges += [(src, syn.name), (syn.name, syn.target)]
    for out in program.outputs:
        nodes[f"output.{out}"] = nir.Output(output_type={"output": np.array(program.layers[out].shape)})
        edges.append((out, f"output.{out}"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt_s": 1e-3, "reset": "zero", "decay": 0.25})


def _quant(program) -> bytes:
    arrays = {"input.scale": np.float64(program.input_scale)}
    for name, layer in program.layers.items():
        arrays.update({f"{name}.vth": np.int32(layer.vth), f"{name}.du": np.int32(layer.du), f"{name}.dv": np.int32(layer.dv),
                       f"{name}.bias_mant": layer.bias_mant, f"{name}.bias_exp": np.int32(layer.bias_exp),
                       f"{name}.scale": np.float64(layer.scale)})  # fmt: skip  (float biases: chip.nir's, zero here)
    for syn in program.synapses:
        if syn.kind != "current":
            arrays[f"{syn.name}.weight_int"] = syn.weight_int
            arrays[f"{syn.name}.weight_exp"] = np.int32(syn.weight_exp)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _onnx_bytes(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _host_in(channels: int) -> bytes:
    """x (B, 1, 8, 8) -> current (B, channels, 8, 8): one 3x3 conv, 8*8*channels*9 MACs per image."""
    w = numpy_helper.from_array(np.random.default_rng(0).normal(0, 1, (channels, 1, 3, 3)).astype(np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["current"], pads=[1, 1, 1, 1])
    return _onnx_bytes(helper.make_graph(
        [conv], "host_in", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", *IMAGE])],
        [helper.make_tensor_value_info("current", TensorProto.FLOAT, ["B", channels, 8, 8])], [w]))  # fmt: skip


def _host_out(program) -> bytes:
    """Spikes of every chip output (T, B, *shape) -> logits (B, 10) = mean_t(fc.act spikes) @ W: 100 MACs."""
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [program.timesteps, "B", *program.layers[n].shape])
              for n in program.outputs]  # fmt: skip
    w = numpy_helper.from_array(np.eye(10, dtype=np.float32), "w")
    nodes = [helper.make_node("ReduceMean", ["fc.act"], ["rate"], axes=[0], keepdims=0),
             helper.make_node("Gemm", ["rate", "w"], ["logits"])]  # fmt: skip
    return _onnx_bytes(helper.make_graph(
        nodes, "host_out", inputs, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 10])], [w]))


def _placement(program, tiles_x=8, cores_per_tile=4) -> Placement:
    """The first layer on two cores, the others on one each; tiles numbered as the placer does."""
    cores, core_id = [], 0
    for name, layer in program.layers.items():
        parts = 2 if core_id == 0 else 1
        bounds = np.linspace(0, layer.neurons, parts + 1).astype(int)
        for a, b in zip(bounds[:-1], bounds[1:]):
            tile = core_id // cores_per_tile
            cores.append(PlacedCore(core_id, name, 0, tile, tile % tiles_x, tile // tiles_x, int(a), int(b), int(b - a), 0, 0, 0, {}))
            core_id += 1
    layers = tuple(LayerPlacement(n, lay.neurons, sum(c.layer == n for c in cores), "neurons", 0.1, (1, 1, lay.neurons)) for n, lay in program.layers.items())
    return Placement("loihi", 1, tuple(cores), layers)


def _within_profile(program, profile):
    """conftest's program leaves the exporter's ranges on purpose (to exercise Lava's clip and truncation); a
    bundle may hold only what the exporter writes (enof.formats.quant): bias exponents ≥ 0, weights within range."""
    ranges = FixedPointRanges.from_profile(profile)
    layers = {n: replace(layer, bias_exp=max(layer.bias_exp, 0)) for n, layer in program.layers.items()}
    synapses = [replace(s, weight_int=np.clip(s.weight_int, ranges.weight.low, ranges.weight.high).astype(np.int32))
                for s in program.synapses]  # fmt: skip
    return replace(program, layers=layers, synapses=synapses)


def _write_bundle_and_run(program, bundle, profile, run_path):
    host_in, host_out = _host_in(3), _host_out(program)
    manifest = Manifest(
        checkpoint_sha256="0" * 64, target=TargetInfo(profile.name, profile.sha256, profile.text),
        timesteps=program.timesteps, num_classes=10,
        dataset=DatasetSpec.from_record({"name": "digits", "input_shape": list(IMAGE),
                                         "normalization": {"mean": [0.0], "std": [16.0]}}),
        input_mode="current", partition=(PartitionRecord("backbone.0.conv", "host_in", [3, 8, 8], "analog input"),),
        host_macs=host_macs(host_in, host_out, IMAGE, {n: program.layers[n].shape for n in program.outputs},
                            program.timesteps),  # as the exporter counts them
    )
    files = {"chip.nir": None, "quant.npz": _quant(program), "host_in.onnx": host_in,
             "host_out.onnx": host_out, "placement.json": _placement(program).to_json_bytes()}  # fmt: skip
    scratch = bundle.parent / f"{bundle.name}.chip.nir"
    nir.write(str(scratch), _chip_nir(program))
    files["chip.nir"] = scratch.read_bytes()
    write_bundle(bundle, manifest, files)
    images = np.random.default_rng(2).uniform(0, 1, (SAMPLES, *IMAGE)).astype(np.float32)
    run = run_bundle(open_bundle(bundle), images, np.zeros(SAMPLES, np.int64), progress=False)
    return write_run_result(run, run_path), run


_BUILT = {}  # one bundle and run for the whole module (tests that change files work on copies)


@pytest.fixture
def run_files(tmp_path_factory, random_program):
    if not _BUILT:
        root = tmp_path_factory.mktemp("energy_cli")
        program = _within_profile(random_program("current", seed=2, timesteps=3, channels=3), load_profile("loihi"))
        bundle = root / "bundle"
        run_path, run = _write_bundle_and_run(program, bundle, load_profile("loihi"), root / "run" / "run.json")
        _BUILT["files"] = (program, bundle, run_path, run)
    return _BUILT["files"]


def _invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def test_json_report_holds_layer_energies_that_add_up_and_the_ann_macs_by_hand(run_files):
    program, bundle, run_path, run = run_files
    result = _invoke(run_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    names = [m["name"] for m in report["models"]]
    assert names == list(load_profile("loihi").cost_models)
    for m in report["models"]:
        layer_sum = sum(layer["energy"][m["name"]]["total_pj"] for layer in report["layers"])
        core_sum = sum(c["energy"][m["name"]]["total_pj"] for c in report["cores"])
        # per-layer and per-core sums are the same pJ summed in another order: 1e-9 relative
        assert layer_sum == pytest.approx(m["totals"]["chip_dynamic_pj"], rel=1e-9)
        assert core_sum == pytest.approx(layer_sum, rel=1e-9)
        if m["totals"]["chip_dynamic_pj"] > 0:
            assert sum(layer["energy"][m["name"]]["share"] for layer in report["layers"]) == pytest.approx(1.0)
    # ANN MACs by hand (c = 3 channels, c2 = 5): b.1.conv 3x3/2 pad 1 on 8x8 -> 4x4, taps 2,3,3,3 = 11 per axis:
    # 5*3*11*11 = 1815; b.2.conv2 3x3 pad 1 on 4x4: taps 2,3,3,2 = 10: 5*5*100 = 2500; shortcut 1x1/2: 5*3*16 = 240;
    # fc: 80*10 = 800; the input current adds no MAC; host 3*4*9*64 + 60.
    # host MACs as the runtime counted them from the ONNX files: conv 3x3 1->3 on 8x8, Gemm 10x10
    assert (run.host.host_in_macs, run.host.host_out_macs) == (3 * 64 * 9, 100)
    assert report["ann_macs"] == 1815 + 2500 + 240 + 800 + 1728 + 100
    davies = next(m for m in report["models"] if m["name"] == "davies2018")
    assert davies["totals"]["ann_pj"] is None and "spike routing" not in davies["not_priced"]
    horowitz = next(m for m in report["models"] if m["name"] == "horowitz45nm")
    # Horowitz: spiking synops x 0.9 pJ + host MACs x 4.6 pJ vs ANN MACs x 4.6 pJ
    synops = sum(layer.synops for layer in run.layers) / SAMPLES
    snn = synops * 0.9 + (1728 + 100) * 4.6
    assert horowitz["totals"]["total_pj"] == pytest.approx(snn, rel=1e-12)
    assert horowitz["totals"]["ann_over_snn"] == pytest.approx(report["ann_macs"] * 4.6 / snn, rel=1e-12)
    # the ANN table compares like with like: each model's ANN against the SNN that the same model prices
    baselines = {b["model"]: b for b in report["ann_baselines"]}
    assert baselines["horowitz45nm"]["snn_model"] == "horowitz45nm"
    assert baselines["horowitz45nm"]["snn_pj"] == pytest.approx(snn, rel=1e-12)
    assert baselines["horowitz45nm"]["ann_over_snn"] == pytest.approx(report["ann_macs"] * 4.6 / snn, rel=1e-12)
    assert all(b["snn_model"] == name for name, b in baselines.items())
    # Loihi 1's default model prices no static power, and the headline says why in words
    assert report["headline"]["static_pj"] is None
    assert "no Loihi 1 static power figure was read" in report["headline"]["static_note"]


def test_table_csv_plot_and_output_file(run_files, tmp_path):
    _, bundle, run_path, _ = run_files
    table = _invoke(run_path, "--bundle", bundle, "--timestep-us", "10")
    assert table.exit_code == 0, table.stderr
    for text in ("b.0.act", "fc.act", "davies2018", "kerasspiking_gpu", "Hottest cores", "ANN/SNN"):
        assert text in table.stdout
    out = tmp_path / "report" / "energy.csv"
    png = tmp_path / "report" / "energy.png"
    result = _invoke(run_path, "--format", "csv", "-o", out, "--plot", png)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    models, layers, cores = len(load_profile("loihi").cost_models), 4, 5
    report = json.loads(_invoke(run_path, "--format", "json").stdout)
    wall_steps = len(report["time"]["steps"])  # T + fill alone, T streamed
    assert wall_steps == 2 * report["timesteps"] + report["time"]["fill_steps"]
    assert len(rows) == models * (layers + cores + 1) + wall_steps
    total = next(r for r in rows if r["row"] == "total")
    assert float(total["latency_s"]) == pytest.approx(report["time"]["latency_s"], rel=1e-9)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    assert sorted(p.name for p in out.parent.iterdir()) == ["energy.csv", "energy.png"]  # no temp files left


def test_all_cores_routing_prices_at_least_the_geometric_routing(run_files):
    _, _, run_path, _ = run_files
    reports = [json.loads(_invoke(run_path, "--format", "json", "--routing", mode).stdout) for mode in ("geometric", "all-cores")]
    geometric, upper = ({layer["name"]: layer["energy"]["davies2018"]["routing_pj"] for layer in r["layers"]} for r in reports)
    assert all(upper[name] >= geometric[name] for name in geometric)
    # b.0.act feeds b.1.act (3x3/2 conv: every neuron) and b.2.act2 (1x1/2 shortcut: only even rows and
    # columns, 1/4 of the neurons), one core each: 1.25 messages per spike geometric, 2 as the upper bound
    routes = {c["core_id"]: c["messages_per_spike"] for c in reports[0]["cores"] if c["layer"] == "b.0.act"}
    assert list(routes.values()) == [1.25, 1.25]  # 96 neurons per core, 24 on even rows and columns: exact
    assert upper["b.0.act"] > geometric["b.0.act"] > 0
    assert [r["routing"] for r in reports] == ["geometric", "all-cores"]


def test_static_power_of_the_loihi2_models_is_charged_for_the_modeled_time_or_timestep_us(run_files):
    _, _, run_path, _ = run_files
    default = json.loads(_invoke(run_path, "--profile", "loihi2", "--format", "json").stdout)
    measured = next(m for m in default["models"] if m["name"] == "lava_dl_pilotnet_measured")
    time = default["time"]
    assert time["source"] == "modeled" and "2445.6" not in json.dumps(default)
    # 0.232 W x 1 chip x the modeled time of one inference streamed
    assert measured["totals"]["static_s"] == pytest.approx(time["period_s"], rel=1e-12)
    assert measured["totals"]["static_pj"] == pytest.approx(0.232 * 1 * time["period_s"] * 1e12, rel=1e-12)
    assert time["inferences_per_s"] == pytest.approx(1 / time["period_s"], rel=1e-12)
    assert sum(s["step_s"] for s in time["steps"] if s["schedule"] == "alone") == pytest.approx(time["latency_s"])
    result = _invoke(run_path, "--profile", "loihi2", "--format", "json", "--timestep-us", "25")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert not report["sources"]["profile_matches_bundle"]  # a loihi bundle priced with loihi2's constants
    measured = next(m for m in report["models"] if m["name"] == "lava_dl_pilotnet_measured")
    # given: 0.232 W x 1 chip x 3 steps x 25 us = 17.4 uJ = 1.74e7 pJ
    assert measured["totals"]["static_pj"] == pytest.approx(0.232 * 1 * 3 * 25e-6 * 1e12, rel=1e-12)
    assert report["time"]["source"] == "--timestep-us" and report["time"]["latency_bound_s"] is None
    assert report["time"]["latency_s"] == pytest.approx((3 + report["time"]["fill_steps"]) * 25e-6, rel=1e-12)
    assert measured["totals"]["chip_dynamic_pj"] is None  # it prices no dynamic energy: "—", not 0
    assert all(layer["energy"]["lava_dl_pilotnet_measured"]["total_pj"] is None for layer in report["layers"])
    # the default model prices dynamic and static energy in one row: the headline adds them up
    h = report["headline"]
    proxy = next(m for m in report["models"] if m["name"] == "davies2018_proxy")
    assert h["model"] == "davies2018_proxy"
    assert h["chip_pj"] == pytest.approx(proxy["totals"]["chip_dynamic_pj"] + measured["totals"]["static_pj"], rel=1e-12)
    assert h["total_pj"] == pytest.approx(h["chip_pj"] + h["host_pj"], rel=1e-12)
    assert h["edp_js"] == pytest.approx(h["total_pj"] * 1e-12 * h["latency_s"], rel=1e-12)


def test_the_table_starts_with_one_answer_under_the_named_default_model(run_files):
    _, _, run_path, _ = run_files
    table = _invoke(run_path, "--profile", "loihi2")
    assert table.exit_code == 0, table.stderr
    report = json.loads(_invoke(run_path, "--profile", "loihi2", "--format", "json").stdout)
    h = report["headline"]
    first = table.stdout.splitlines()[:5]
    assert first[0].startswith(f"Energy per inference: {format_energy(h['total_pj'])} under davies2018_proxy (the default "
                               "cost model; the others below) [assumption, ")
    assert first[1] == (f"  chip {format_energy(h['chip_pj'])} = dynamic {format_energy(h['chip_dynamic_pj'])}"
                        f" + static {format_energy(h['static_pj'])} for 1 chip(s) over {format_time(h['static_s'])} per inference")
    assert first[2] == f"  host {format_energy(h['host_pj'])}; total {format_energy(h['total_pj'])}"
    assert first[3].startswith(f"Latency per inference: {format_time(h['latency_s'])} alone (T = 3 + ")
    assert first[4].startswith(f"  {h['inferences_per_s']:,.0f} inferences/s streamed; EDP {h['edp_js']:.3g} J·s [")
    assert "time rests on assumptions: synop_ns, " in table.stdout
    # the ANN baseline: the first device priced in both energy and time (horowitz45nm's MAC unit has no time):
    # KerasSpiking's CPU, MACs x 8.6 nJ drawn at the i7-4960X's 130 W, with no ratio against another model's SNN
    ann_pj = report["ann_macs"] * 8600.0
    assert h["ann_model"] == "kerasspiking_cpu" and h["ann_pj"] == pytest.approx(ann_pj, rel=1e-12)
    assert h["ann_latency_s"] == pytest.approx(ann_pj * 1e-12 / 130.0, rel=1e-12)
    assert (f"  ANN baseline {format_energy(ann_pj)} in {format_time(h['ann_latency_s'])} (kerasspiking_cpu: cpu "
            "(Intel i7-4960X), 1 step)") in table.stdout
    assert h["ann_over_snn"] is None
    # each baseline's EDP is its own energy times its own latency; the GPU's time at its 250 W board power
    gpu = next(b for b in report["ann_baselines"] if b["model"] == "kerasspiking_gpu")
    assert gpu["ann_latency_s"] == pytest.approx(report["ann_macs"] * 300.0 * 1e-12 / 250.0, rel=1e-12)
    assert gpu["ann_edp_js"] == pytest.approx(gpu["ann_pj"] * 1e-12 * gpu["ann_latency_s"], rel=1e-12)
    assert gpu["snn_latency_s"] == pytest.approx(h["latency_s"], rel=1e-12)
    assert "derived" in gpu["ann_time_grades"] and "assumption" in gpu["ann_time_grades"]
    horowitz = next(b for b in report["ann_baselines"] if b["model"] == "horowitz45nm")
    assert horowitz["ann_latency_s"] is None and horowitz["ann_edp_js"] is None
    # beside it, the cheapest ANN of the profile (Horowitz's 45 nm MAC, 4.6 pJ, 1870x below the CPU's 8.6 nJ)
    assert min(b["ann_pj"] for b in report["ann_baselines"]) == horowitz["ann_pj"] == pytest.approx(report["ann_macs"] * 4.6)
    assert (h["ann_lowest_model"], h["ann_lowest_pj"]) == ("horowitz45nm", horowitz["ann_pj"])
    assert (f"  ANN at its cheapest {format_energy(horowitz['ann_pj'])}, no time (horowitz45nm: 45 nm fp32 MAC unit "
            "(Horowitz 2014), 1 step; the MAC accounting SNN papers compare against)") in table.stdout.splitlines()


def test_no_cheapest_ann_line_when_the_headlines_ann_is_the_cheapest(run_files, tmp_path):
    program, _, _, _ = run_files
    profile = load_profile("loihi")
    cheap_cpu = profile.text.replace("ann_mac_pj = { value = 8600.0,", "ann_mac_pj = { value = 1.0,", 1)
    assert cheap_cpu != profile.text
    (tmp_path / "cheap.toml").write_text(cheap_cpu)
    _write_bundle_and_run(program, tmp_path / "bundle", load_profile(tmp_path / "cheap.toml"), tmp_path / "run.json")
    table = _invoke(tmp_path / "run.json")
    h = json.loads(_invoke(tmp_path / "run.json", "--format", "json").stdout)["headline"]
    assert h["ann_model"] == "kerasspiking_cpu" and h["ann_lowest_model"] is h["ann_lowest_pj"] is None
    assert "ANN baseline" in table.stdout and "ANN at its cheapest" not in table.stdout

def test_bundle_profile_that_is_no_longer_the_builtin_is_read_from_the_manifest(run_files, tmp_path):
    # The manifest embeds the profile text; a bundle exported with an edited profile is priced with that text.
    program, _, _, _ = run_files
    profile = load_profile("loihi")
    edited = profile.text.replace("synop_pj = { value = 23.6,", "synop_pj = { value = 30.0,", 1)
    assert edited != profile.text
    bundle = tmp_path / "edited"
    edited_path = tmp_path / "edited.toml"
    edited_path.write_text(edited)
    _write_bundle_and_run(program, bundle, load_profile(edited_path), tmp_path / "edited-run.json")
    result = _invoke(tmp_path / "edited-run.json", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert "target.profile" in report["sources"]["profile_path"] and report["sources"]["profile_matches_bundle"]
    davies = next(m for m in report["models"] if m["name"] == "davies2018")
    assert davies["constants"]["synop_pj"]["value"] == 30.0


def test_bundle_profile_the_loader_no_longer_accepts_is_a_one_line_error_naming_the_way_out(run_files, tmp_path):
    # e.g. a bundle exported (and run) before the profile schema gained a field: its manifest embeds the old text
    _, bundle, run_path, _ = run_files
    old = tmp_path / "old"
    shutil.copytree(bundle, old)
    manifest = json.loads((old / "manifest.json").read_text())
    old_text = "\n".join(line for line in load_profile("loihi").text.splitlines() if not line.startswith("max_chips")) + "\n"
    manifest["target"].update(profile=old_text, profile_sha256=hashlib.sha256(old_text.encode()).hexdigest())
    raw = json.dumps(manifest).encode()
    (old / "manifest.json").write_bytes(raw)
    run = json.loads(run_path.read_text())
    run.update(bundle_manifest_sha256=hashlib.sha256(raw).hexdigest(), bundle=str(old))
    (tmp_path / "old-run.json").write_text(json.dumps(run))
    _one_line_error(_invoke(tmp_path / "old-run.json"), "target.profile", "max_chips", "--profile")
    assert _invoke(tmp_path / "old-run.json", "--profile", "loihi").exit_code == 0


def test_bad_options_are_one_line_errors(run_files, tmp_path):
    _, _, run_path, _ = run_files
    _one_line_error(_invoke(run_path, "--timestep-us", "0"), "--timestep-us 0.0: must be > 0")
    _one_line_error(_invoke(run_path, "--model", "nope"), "--model nope", "davies2018")
    (tmp_path / "file").write_text("x")
    _one_line_error(_invoke(run_path, "-o", tmp_path / "file" / "report.txt"), "is a file, not a folder")


def _one_line_error(result, *fragments):
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_run_from_another_bundle_is_refused_with_both_hashes(run_files, tmp_path):
    _, bundle, run_path, _ = run_files
    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["checkpoint_sha256"] = "f" * 64  # another export: the same files from another checkpoint
    (other / "manifest.json").write_text(json.dumps(manifest))
    _one_line_error(_invoke(run_path, "--bundle", other), "run.json was produced from another bundle (manifest sha256")


def test_profile_without_a_constant_a_model_needs_names_profile_model_and_constant(run_files, tmp_path):
    _, _, run_path, _ = run_files
    text = load_profile("loihi").text
    lines = [line for line in text.splitlines() if not line.startswith("hop_ns_pj")]
    broken = tmp_path / "broken.toml"
    broken.write_text("\n".join(lines) + "\n")
    _one_line_error(_invoke(run_path, "--profile", broken), str(broken), "'sanafe_loihi'", "hop_ns_pj")


def test_truncated_run_json_is_a_one_line_error(run_files, tmp_path):
    _, _, run_path, _ = run_files
    truncated = tmp_path / "run.json"
    truncated.write_text(run_path.read_text()[:200])
    _one_line_error(_invoke(truncated), "run.json", "not valid JSON")


def test_missing_bundle_is_a_one_line_error(run_files, tmp_path):
    _, _, _, run = run_files
    lonely = write_run_result(replace(run, bundle=""), tmp_path / "elsewhere" / "run.json")
    _one_line_error(_invoke(lonely), "no bundle found", "--bundle")


def test_bundle_beside_run_json_is_found_without_a_recorded_path(run_files, tmp_path):
    _, bundle, _, run = run_files
    shutil.copytree(bundle, tmp_path / "bundle")
    run_path = write_run_result(replace(run, bundle=""), tmp_path / "run.json")  # bundle/ beside it
    result = _invoke(run_path, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["sources"]["bundle_dir"] == str(tmp_path / "bundle")


def test_console_script_runs(run_files):
    _, _, run_path, _ = run_files
    exe = Path(sys.executable).parent / "enof-energy"
    if not exe.exists():
        pytest.fail("enof-energy is not installed: pip install -e . after adding it to [project.scripts]")
    proc = subprocess.run([str(exe), str(run_path), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["format"] == "enof-energy"


def test_enof_energy_opens_the_bundle_once_and_reads_each_of_its_files_once(run_files, count_reader_calls):
    _, bundle, run_path, _ = run_files
    reader_calls = count_reader_calls()
    assert _invoke(run_path, "--format", "json").exit_code == 0
    files = json.loads((bundle / "manifest.json").read_text())["files"]
    assert sorted(reader_calls.pop("file_sha256")) == sorted(bundle / name for name in files)  # each hashed once
    # the host graphs are not read: their MACs are in the manifest
    assert reader_calls.pop("check_host_out") == [] and reader_calls.pop("check_host_in") == []
    assert {name: len(args) for name, args in reader_calls.items()} == {name: 1 for name in reader_calls}


def test_every_report_names_the_weight_layers_that_feed_each_lif(run_files, tmp_path):
    program, _, run_path, _ = run_files
    # chip.nir's weight nodes by name; the input current by the host-in layer the manifest's partition names
    fed_by = {name: ["backbone.0.conv" if s.kind == "current" else s.name for s in program.incoming(name)]
              for name in program.layers}  # fmt: skip
    assert any(len(names) == 2 for names in fed_by.values())  # a residual join: two weight layers into one LIF
    report = json.loads(_invoke(run_path, "--format", "json").stdout)
    assert {layer["name"]: layer["fed_by"] for layer in report["layers"]} == fed_by
    rows = csv.DictReader(io.StringIO(_invoke(run_path, "--format", "csv").stdout))
    assert {r["layer"]: r["fed_by"] for r in rows if r["row"] == "layer"} == {n: " + ".join(v) for n, v in fed_by.items()}
    assert _invoke(run_path, "-o", tmp_path / "energy.txt").exit_code == 0
    text = (tmp_path / "energy.txt").read_text()
    per_layer = text[text.index("Per layer"):text.index("Where it goes")]
    assert "fed by" in per_layer
    for name, names in fed_by.items():  # rich may wrap a cell of two names onto a second line
        assert name in per_layer and all(weight in per_layer for weight in names), (name, per_layer)


# --- issue 15: numeric options and outputs checked before any pricing -----------------------------------------


@pytest.fixture(scope="module")
def exported_run(digits_bundle, digits_test_set, tmp_path_factory):
    """run.json of 4 digits on a bundle made by the real export chain (loihi2)."""
    bundle, _ = digits_bundle("loihi2")
    images, labels = digits_test_set
    run = run_bundle(open_bundle(bundle), images[:4], labels[:4], progress=False)
    return write_run_result(run, tmp_path_factory.mktemp("exported_run") / "run.json")


@pytest.mark.parametrize("value, expected", [
    ("inf", "--timestep-us inf: must be a finite number"),
    ("nan", "--timestep-us nan: must be a finite number"),
    ("-25", "--timestep-us -25.0: must be > 0"),
])  # fmt: skip
def test_timestep_that_is_not_a_positive_finite_number_is_refused_and_nothing_written(exported_run, tmp_path, value,
                                                                                     expected):
    run_path = exported_run
    out = tmp_path / "report.json"
    _one_line_error(_invoke(run_path, "--format", "json", "--timestep-us", value, "-o", out), expected)
    assert not out.exists()  # before: "static_pj": Infinity in the JSON


def test_outputs_are_checked_before_the_run_is_even_read(tmp_path):
    missing = tmp_path / "no-run.json"  # an error about an output shows the outputs were checked first
    folder = tmp_path / "reports"
    folder.mkdir()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    _one_line_error(_invoke(missing, "-o", folder), f"-o {folder}: is a folder; give a file's path, e.g. {folder / 'energy.txt'}")
    _one_line_error(_invoke(missing, "--plot", folder), f"--plot {folder}: is a folder; give a file's path, e.g. {folder / 'energy.png'}")
    _one_line_error(_invoke(missing, "-o", a_file / "r.txt"), f"-o {a_file / 'r.txt'}: {a_file} is a file, not a folder")
    same = tmp_path / "energy.out"
    _one_line_error(_invoke(missing, "-o", same, "--plot", same), "the same file; give the report and the plot two names")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "reports"] and not any(folder.iterdir())


def test_outputs_in_a_read_only_folder_are_refused_in_one_line(exported_run, refuses_read_only_output):
    refuses_read_only_output("enof-energy", exported_run, flag="-o", name="report.txt")
    refuses_read_only_output("enof-energy", exported_run, flag="--plot", name="energy.png")


def test_a_valid_timestep_prices_static_power_into_the_file(exported_run, tmp_path):
    out = tmp_path / "new" / "report.json"  # a missing parent folder is created
    result = _invoke(exported_run, "--format", "json", "--timestep-us", "25", "-o", out)
    assert result.exit_code == 0, result.output
    measured = next(m for m in json.loads(out.read_text())["models"] if m["name"] == "lava_dl_pilotnet_measured")
    assert measured["totals"]["static_pj"] > 0


def test_host_energy_is_given_per_host_layer_and_adds_up_to_the_host_total(exported_run):
    report = json.loads(_invoke(exported_run, "--format", "json").stdout)
    bundle = open_bundle(Path(report["sources"]["bundle_dir"]))
    host_nodes = [(r.node, r.where) for r in bundle.manifest.partition if r.where in ("host_in", "host_out")]
    layers = report["host_layers"]
    assert [(h["name"], h["where"]) for h in layers] == host_nodes
    # the weight layers (conv, classifier) do MACs; ReLU and pooling do none
    assert all((h["macs"] > 0) == (h["name"] in ("conv1", "conv3", "fc")) for h in layers), layers
    host = report["host"]
    assert sum(h["macs"] for h in layers) == host["host_in_macs"] + host["host_out_macs"]
    for m in report["models"]:
        per_layer = [h["energy_pj"][m["name"]] for h in layers]
        if m["totals"]["host_compute_pj"] is None:
            assert per_layer == [None] * len(layers)
            continue
        mac_pj = m["constants"]["host_mac_pj"]["value"]
        assert per_layer == [h["macs"] * mac_pj for h in layers]
        assert sum(per_layer) == pytest.approx(m["totals"]["host_compute_pj"], rel=1e-12)  # one sum reordered
    text = _invoke(exported_run).stdout
    assert "Host layers (davies2018_proxy" in text and "host_out.onnx" in text  # a loihi2 bundle


def test_host_layers_are_left_out_when_the_onnx_weights_do_not_name_the_manifests_layers(run_files):
    # the hand-built bundle's ONNX initializers are called "w": MACs that name no manifest layer are not guessed
    _, _, run_path, _ = run_files
    report = json.loads(_invoke(run_path, "--format", "json").stdout)
    assert report["host_layers"] == [] and report["host"]["host_in_macs"] == 1728
    assert "Host layers" not in _invoke(run_path).stdout


def test_enof_energy_parses_each_file_once_and_opens_no_onnx(run_files, count_parses):
    """The host MACs come from the manifest (counted at export): no ONNX graph is loaded, no ONNX Runtime
    session opened; run.json, manifest.json and placement.json are parsed once each, and the one profile (the
    text the manifest embeds; the built-in of its name is compared by hash, not parsed again) once."""
    _, bundle, run_path, _ = run_files
    calls = count_parses()
    assert _invoke(run_path, "--format", "json").exit_code == 0
    assert calls["onnx"] == [] and calls["onnxruntime"] == []
    assert len(calls["json"]) == len(set(calls["json"])) == 3, calls["json"]
    assert len(calls["toml"]) == 1, calls["toml"]
