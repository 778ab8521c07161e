"""enof.export / enof.run / enof.energy (issue 26): typed results that agree with the commands and with the
source library, and every bad argument as one EnofError naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import enof
from enof.errors import EnofError

T = 5


@pytest.fixture(scope="module")
def snntorch_mlp(tmp_path_factory):
    """(net, inputs, labels, bundle): an snnTorch MLP with random weights, exported for Loihi 2 with its inputs
    as calibration, and the snnTorch output spikes (T, N, 4) of those inputs."""
    import snntorch
    import snntorch.utils

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(12, 24), snntorch.Leaky(beta=0.85, threshold=0.5, reset_mechanism="zero", init_hidden=True),
                        nn.Linear(24, 4), snntorch.Leaky(beta=0.7, threshold=0.5, reset_mechanism="zero", init_hidden=True))  # fmt: skip
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.weight.mul_(2.5)
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, (64, 12)).astype(np.float32)
    labels = rng.integers(0, 4, 64)
    snntorch.utils.reset(net)
    with torch.no_grad():
        spikes = torch.stack([net(torch.from_numpy(x)) for _ in range(T)]).numpy()
    bundle = enof.export(net, "loihi2", tmp_path_factory.mktemp("api") / "bundle", timesteps=T, input_shape=(12,), calibration=x)
    return net, x, labels, spikes, bundle


def test_export_returns_the_bundle_it_wrote(snntorch_mlp):
    bundle = snntorch_mlp[4]
    assert (bundle.target, bundle.timesteps, bundle.num_classes, bundle.input_shape) == ("loihi2", T, 4, (12,))
    assert (bundle.path / "manifest.json").is_file() and bundle.layer_of("3") == "lif3"
    assert enof.Bundle.open(bundle.path).manifest == bundle.manifest


def test_run_predicts_what_the_librarys_spike_counts_say_and_counts_the_accuracy(snntorch_mlp):
    """The host's logits are the output layer's spike counts over T: argmax (first on ties) of snnTorch's counts."""
    _, x, labels, spikes, bundle = snntorch_mlp
    result = enof.run(bundle, torch.from_numpy(x), labels=labels, precision="float", record_spikes=True)
    expected = spikes.sum(axis=0).argmax(axis=1)
    assert 0.05 < spikes.mean() < 0.9
    np.testing.assert_array_equal(result.predictions, expected)
    assert result.accuracy == pytest.approx(float((expected == labels).mean()))
    assert result.spikes["lif3"].shape == (T, 64, 4) and (result.spikes["lif3"] == spikes).mean() >= 0.999
    assert [layer.name for layer in result.layers] == ["lif1", "lif3"]
    assert result.layers[1].spikes == int(result.spikes["lif3"].sum())


def test_the_api_and_enof_run_give_the_same_run(snntorch_mlp, tmp_path):
    from enof.cli.run import app

    _, x, labels, _, bundle = snntorch_mlp
    np.savez(tmp_path / "x.npz", inputs=x, labels=labels)
    cli = CliRunner().invoke(app, [str(bundle.path), "--inputs", str(tmp_path / "x.npz"), "--normalized", "-o", str(tmp_path / "cli.json"), "-q"])
    assert cli.exit_code == 0, cli.output
    api = enof.run(bundle.path, x, labels=labels)
    saved = api.save(tmp_path / "api.json")
    ours, theirs = json.loads(saved.read_text()), json.loads((tmp_path / "cli.json").read_text())
    for key in ("predictions", "labels", "accuracy", "layers", "cores", "per_step", "host", "bundle_manifest_sha256"):
        assert ours[key] == theirs[key], key


def test_energy_of_a_run_in_memory_and_of_its_run_json_agree(snntorch_mlp, tmp_path):
    _, x, _, _, bundle = snntorch_mlp
    result = enof.run(bundle, x)
    report = enof.energy(result)
    result.save(tmp_path / "run.json")
    from_file = enof.energy(tmp_path / "run.json")
    assert report.headline == from_file.headline and report.headline.total_pj > 0
    assert report.headline.total_pj == pytest.approx(report.headline.chip_pj + report.headline.host_pj)
    assert [layer.name for layer in report.layers] == ["lif1", "lif3"] and len(report.cores) >= 2
    assert report.to_dict()["headline"]["total_pj"] == report.headline.total_pj == report.energy().total_pj
    assert "Energy per inference" in str(report)
    png = report.plot(tmp_path / "energy.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    other = report.models[-1]
    assert enof.energy(result, model=other).model == other
    with pytest.raises(EnofError, match=r"model='nope': not a cost model"):
        enof.energy(result, model="nope")


@pytest.mark.parametrize(
    "inputs, labels, fragment",
    [
        (np.zeros((3, 4, 12), np.float32), None, "inputs: 3 dimensions (3, 4, 12); expected 2: (N, 12)"),
        (np.zeros((3, 11), np.float32), None, "inputs: shape (3, 11); expected (N, 12)"),
        (np.array([["a"] * 12]), None, "inputs: dtype <U1; expected a float array (float16/32/64) (N, 12)"),
        (np.stack([np.zeros(12), np.full(12, np.nan)]).astype(np.float32), None, "inputs: sample 1 holds NaN or Inf"),
        (np.zeros((0, 12), np.float32), None, "inputs: shape (0, 12); expected (N, 12) with N ≥ 1"),
        (np.zeros((3, 12), np.float32), np.array([0, 1]), "labels: 2 labels for 3 inputs"),
        (np.zeros((3, 12), np.float32), np.array([0, 1, 9]), "labels: labels[2] = 9, outside the bundle's classes 0..3"),
    ],
)
def test_bad_inputs_are_one_error_naming_the_argument(snntorch_mlp, inputs, labels, fragment):
    with pytest.raises(EnofError) as info:
        enof.run(snntorch_mlp[4], inputs, labels=labels)
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_bad_export_arguments_are_one_error_and_write_nothing(snntorch_mlp, tmp_path):
    net = snntorch_mlp[0]
    cases = [
        (dict(source=net, calibration=np.zeros((0, 12), np.float32)), "calibration: shape (0, 12)"),
        (dict(source=net, calibration=np.zeros((4, 13), np.float32)), "calibration: shape (4, 13); Sequential takes (N, 12)"),
        (dict(source=net, calibration=np.full((4, 12), np.inf, np.float32)), "calibration: holds NaN or Inf"),
        (dict(source=42), "source: a model.pt or .nir path, a nir.NIRGraph or a torch.nn.Module, not a int"),
        (dict(source=tmp_path / "gone.pt"), "gone.pt: no such file"),
    ]
    for kwargs, fragment in cases:
        with pytest.raises(EnofError) as info:
            enof.export(target="loihi2", out=tmp_path / "b", timesteps=T, input_shape=(12,), **kwargs)
        assert fragment in str(info.value), str(info.value)
        assert not (tmp_path / "b").exists()


def _cli_error(args) -> str:
    from enof.cli.run import app

    result = CliRunner().invoke(app, list(map(str, args)))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0].removeprefix("error: ")


def test_a_bad_argument_is_the_same_error_from_enof_run_and_the_api_each_in_its_spelling(snntorch_mlp, tmp_path):
    """enof-run and enof.run go through one implementation (enof.run_request): each refusal below is worded the
    same, naming the flag in the command and the keyword in Python."""
    bundle = snntorch_mlp[4]
    x = np.zeros((3, 12), np.float32)
    x[2, 5] = np.inf
    np.save(tmp_path / "inf.npy", x)
    np.save(tmp_path / "ints.npy", x[:2].astype(np.int64))
    np.savez(tmp_path / "classes.npz", inputs=x[:2], labels=np.array([3, 4]))
    np.save(tmp_path / "good.npy", x[:2])
    inf, ints, classes, good = (str(tmp_path / name) for name in ("inf.npy", "ints.npy", "classes.npz", "good.npy"))
    cases = [  # (API keywords, enof-run flags, the API's error, enof-run's error)
        (dict(inputs=x), ["--inputs", inf],
         "inputs: sample 2 holds NaN or Inf; every value must be finite",
         f"--inputs {inf}: sample 2 holds NaN or Inf; every value must be finite"),
        (dict(inputs=x[:2].astype(np.int64)), ["--inputs", ints],
         "inputs: dtype int64; expected a float array (float16/32/64) (N, 12)",
         f"--inputs {ints}: dtype int64; expected a float array (float16/32/64) (N, 12)"),
        (dict(inputs=x[:2], labels=np.array([3, 4])), ["--inputs", classes],
         "labels: labels[1] = 4, outside the bundle's classes 0..3",
         f"--inputs {classes}: labels[1] = 4, outside the bundle's classes 0..3"),
        (dict(inputs=x[:2], dataset="digits"), ["--inputs", good, "--dataset", "digits"],
         "inputs replaces dataset and data_root; give one or the other",
         "--inputs replaces --dataset and --data-root; give one or the other"),
        (dict(normalized=True), ["--normalized"],
         "normalized describes your own inputs; the data sets are normalized by their loaders",
         "--normalized describes an --inputs file; the data sets are normalized by their loaders"),
        (dict(inputs=x[:2], lava_workers=2), ["--inputs", good, "--lava-workers", "2"],
         "lava_workers=2: needs ≥ 1, and more than 1 only with backend='lava' or netx",
         "--lava-workers 2: needs ≥ 1, and more than 1 only with --backend lava or netx"),
        (dict(inputs=x[:2], backend="netx", precision="float"), ["--inputs", good, "--backend", "netx", "--precision", "float"],
         "backend='netx' runs chip.net.h5's integers: precision='fixed' only",
         "--backend netx runs chip.net.h5's integers: --precision fixed only"),
        (dict(inputs=x[:2], batch_size=0), ["--inputs", good, "--batch-size", "0"],
         "batch_size=0: expected a whole number ≥ 1 or auto", "--batch-size 0: expected a whole number ≥ 1 or auto"),
        (dict(inputs=x[:2], device="tpu"), ["--inputs", good, "--device", "tpu"],
         "device='tpu': expected auto, cpu, cuda or cuda:N", "--device 'tpu': expected auto, cpu, cuda or cuda:N"),
        (dict(inputs=x[:2], timeout_s=0.0), ["--inputs", good, "--timeout", "0"],
         "timeout_s=0.0: must be > 0", "--timeout 0.0: must be > 0"),
    ]  # fmt: skip
    for api_kwargs, flags, api_error, cli_error in cases:
        with pytest.raises(EnofError) as info:
            enof.run(bundle, **api_kwargs)
        assert str(info.value) == api_error
        out = tmp_path / "run.json"
        assert _cli_error([bundle.path, *flags, "-q", "-o", out]) == cli_error
        assert not out.exists()
    with pytest.raises(EnofError, match=r"^limit=0: expected a whole number ≥ 1 \(the first N samples\)$"):
        enof.run(bundle, x[:2], limit=0)  # enof-run's --limit is refused by click (min=1) as a usage error


def _device_case() -> tuple[str, str]:
    """A device this machine lacks, and the end of the error that names it (either spelling's)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        return "cuda", f": torch {torch.__version__} sees no CUDA GPU here; use "
    return f"cuda:{count}", f": this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}"


def test_the_device_and_batch_size_auto_errors_from_the_runtime_speak_the_callers_spelling(snntorch_mlp, tmp_path):
    """The checks that need torch (does the GPU exist; can batch size auto size itself) name device= and
    batch_size= from enof.run, --device and --batch-size from enof-run, and write no run.json."""
    bundle = snntorch_mlp[4]
    np.save(tmp_path / "good.npy", np.zeros((2, 12), np.float32))
    good, out = str(tmp_path / "good.npy"), tmp_path / "run.json"
    missing, reason = _device_case()
    use = ("device='cpu' or 'auto'", "--device cpu or auto") if missing == "cuda" else ("", "")
    auto = " picks a batch from free CUDA memory; on the CPU give a number (memory grows with the batch: 256 suits most networks)"
    cases = [  # (API keywords, enof-run flags, the API's error, enof-run's error)
        (dict(device=missing), ["--device", missing], f"device={missing!r}{reason}{use[0]}", f"--device {missing}{reason}{use[1]}"),
        (dict(batch_size="auto", device="cpu"), ["--batch-size", "auto", "--device", "cpu"],
         f"batch_size='auto'{auto}", f"--batch-size auto{auto}"),
        (dict(batch_size="auto", backend="lava"), ["--batch-size", "auto", "--backend", "lava"],  # Lava: the CPU
         f"batch_size='auto'{auto}", f"--batch-size auto{auto}"),
    ]  # fmt: skip
    for api_kwargs, flags, api_error, cli_error in cases:
        with pytest.raises(EnofError) as info:
            enof.run(bundle, np.zeros((2, 12), np.float32), **api_kwargs)
        assert str(info.value) == api_error
        assert _cli_error([bundle.path, "--inputs", good, *flags, "-q", "-o", out]) == cli_error
        assert not out.exists()


def test_enof_run_and_the_api_have_the_same_defaults():
    """Every argument the two share defaults to the same value: device auto, batch 256, the fast fixed-point run."""
    import inspect

    from enof.cli.run import run as command

    api = inspect.signature(enof.run).parameters
    cli = {name: p.default.default for name, p in inspect.signature(command).parameters.items()}
    shared = {"backend": "backend", "precision": "precision", "dataset": "dataset", "data_root": "data_root",
              "limit": "limit", "batch_size": "batch_size", "device": "device", "timeout_s": "timeout",
              "lava_workers": "lava_workers", "normalized": "normalized", "inputs": "inputs_file"}  # fmt: skip
    for keyword, flag in shared.items():
        theirs = cli[flag].value if hasattr(cli[flag], "value") else cli[flag]
        assert str(api[keyword].default) == str(theirs), keyword
    assert api["device"].default == "auto"


def test_inputs_for_a_bundle_without_normalization_go_in_as_they_are_in_both(snntorch_mlp, tmp_path):
    """The module's bundle was exported without a data set: no normalization to apply, so enof-run --inputs
    without --normalized gives the run of --normalized, and of enof.run's default."""
    from enof.cli.run import app

    _, x, labels, _, bundle = snntorch_mlp
    np.savez(tmp_path / "x.npz", inputs=x[:16], labels=labels[:16])
    runs = {}
    for name, extra in (("raw", []), ("normalized", ["--normalized"])):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(app, [str(bundle.path), "--inputs", str(tmp_path / "x.npz"), *extra, "-q", "-o", str(out)])
        assert result.exit_code == 0, result.output
        runs[name] = json.loads(out.read_text())
    api = enof.run(bundle, x[:16], labels=labels[:16]).record.to_dict()
    for key in ("predictions", "accuracy", "layers", "cores"):
        assert runs["raw"][key] == runs["normalized"][key] == api[key], key
