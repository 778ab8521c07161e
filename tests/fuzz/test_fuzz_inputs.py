"""Mutated inputs, as a hostile or careless user makes them, through the commands themselves.

Seeded (the same inputs every run). For every mutant: no traceback (only SystemExit leaves the
command), a non-zero exit with one `error:` line for input that is invalid by construction, and
nothing at the output path. Where a mutant may still be valid (a byte flip in zip padding, a
changed free-text field) the command may succeed, but then its output must read back. Each class
also runs its valid edge (the untouched input; the largest in-range weight), which must pass.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from enof.cli.energy import app as energy_app
from enof.cli.export import app as export_app
from enof.cli.run import app as run_app
from enof.formats.run_result import read_run_result

pytestmark = pytest.mark.fuzz
SEED = 20261201
runner = CliRunner()


def pick(rng, values):
    """One of `values` (of any types; numpy's choice wants one dtype)."""
    return values[int(rng.integers(0, len(values)))]


def invoke(app, args):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{args}: traceback {type(result.exception).__name__}: {result.exception}\n{result.output}")
    assert "Traceback" not in result.output, result.output
    return result


def refused(result, what: str) -> None:
    assert result.exit_code != 0, f"{what}: accepted (exit 0)\n{result.output[-600:]}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {result.stderr[-600:]}"


def rehash(bundle: Path, name: str) -> None:
    """Put the sha256 of `name`'s new bytes into the manifest, so only the content check can refuse it."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def originals(digits_bundle, tmp_path_factory):
    """A digits bundle (Loihi 2), its checkpoint, and a run.json of it."""
    bundle, _ = digits_bundle("loihi2")
    root = tmp_path_factory.mktemp("fuzz-originals")
    run_json = root / "run.json"
    assert invoke(run_app, [bundle, "--limit", "4", "-o", run_json]).exit_code == 0
    return {"bundle": bundle, "checkpoint": bundle.parent / "model.pt", "run": run_json}


class Work:
    """A fresh copy of an input per mutant, and an output path that must stay absent."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def copy(self, source: Path) -> tuple[Path, Path]:
        self.count += 1
        target = self.root / f"m{self.count}"
        target.mkdir()
        dest = target / source.name
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, dest)
        return dest, target / "out"


@pytest.fixture
def work(tmp_path):
    return Work(tmp_path)


# --- checkpoints → enof-export ------------------------------------------------------------------

def test_checkpoint_byte_flips_never_export_changed_weights(originals, work):
    rng = np.random.default_rng(SEED)
    original = originals["checkpoint"].read_bytes()
    weights = torch.load(originals["checkpoint"], weights_only=True)["state_dict"]
    accepted = 0
    for trial in range(120):
        model, out = work.copy(originals["checkpoint"])
        data = bytearray(original)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[position] ^= 1 << int(rng.integers(0, 8))
        model.write_bytes(bytes(data))
        result = invoke(export_app, [model, "--target", "loihi2", "-o", out])
        if result.exit_code == 0:  # the flips missed everything that matters: weights must be intact
            accepted += 1
            got = torch.load(model, weights_only=True)["state_dict"]
            assert all(torch.equal(got[k], weights[k]) for k in weights), f"trial {trial}: changed weights exported"
        else:
            refused(result, f"byte flip {trial}")
            assert not out.exists()
    assert accepted < 20  # nearly every flip lands in tensor bytes or the pickle, which are checked


def _mutate_checkpoint(payload: dict, rng) -> tuple[dict, str]:
    """One structural mutation of a checkpoint dict that makes it invalid."""
    kind = int(rng.integers(0, 9))
    p = json.loads(json.dumps({k: v for k, v in payload.items() if k != "state_dict"}))
    p["state_dict"] = {k: v.clone() for k, v in payload["state_dict"].items()}
    if kind == 0:
        key = str(pick(rng, ["arch", "neuron", "dataset", "timesteps", "state_dict", "repact", "arch_kwargs"]))
        del p[key]
        return p, f"no {key}"
    if kind == 1:
        key = str(pick(rng, ["decay", "v_threshold", "surrogate", "surrogate_alpha"]))
        p["neuron"][key] = pick(rng, [-1.0, math.nan, "x", None]) if key != "surrogate" else "spline"
        return p, f"neuron.{key}"
    if kind == 2:
        key = str(pick(rng, ["input_shape", "num_classes", "normalization", "name"]))
        p["dataset"][key] = pick(rng, [[1, 8], -3, "x", None, {"a": 1}]) if key != "name" else "imagenet21k"
        if key == "normalization" and rng.random() < 0.5:
            p["dataset"][key] = {"mean": [0.0], "std": [0.0]}
        return p, f"dataset.{key}"
    if kind == 3:
        p["timesteps"] = int(pick(rng, [0, -2])) if rng.random() < 0.7 else "2"
        return p, "timesteps"
    if kind == 4:
        p["arch"] = str(pick(rng, ["resnet1000", "", "digits_cnn "]))
        return p, "arch"
    if kind == 5:
        p["arch_kwargs"] = {"width": int(rng.integers(100, 200))}
        return p, "arch_kwargs width"
    name = str(rng.choice(sorted(k for k, v in p["state_dict"].items() if v.is_floating_point())))
    tensor = p["state_dict"][name]
    if kind == 6:
        tensor.view(-1)[int(rng.integers(0, tensor.numel()))] = float(pick(rng, [math.nan, math.inf, -math.inf]))
        return p, f"non-finite {name}"  # digest recomputed below: the value check must refuse it
    if kind == 7:
        p["state_dict"][name] = tensor.reshape(-1)[:-1] if tensor.numel() > 1 else tensor.reshape(1, 1, 1)
        return p, f"reshaped {name}"
    p["format_version"] = int(pick(rng, [0, 2, 99]))
    return p, "format_version"


def test_structurally_broken_checkpoints_are_refused_in_one_line(originals, work):
    from enof.trainer.checkpoint import Checkpoint, write_checkpoint_payload

    rng = np.random.default_rng(SEED + 1)
    payload = torch.load(originals["checkpoint"], weights_only=True)
    fields = set(Checkpoint.__dataclass_fields__)
    for trial in range(90):
        model, out = work.copy(originals["checkpoint"])
        mutated, what = _mutate_checkpoint(payload, rng)
        if set(mutated) >= fields - {"teacher", "metrics", "seed", "train_config", "versions", "mode"} and \
                what.startswith(("non-finite", "reshaped")):
            write_checkpoint_payload(mutated, model)  # valid digest
        else:
            torch.save(mutated, model)
        result = invoke(export_app, [model, "--target", "loihi2", "-o", out])
        refused(result, f"checkpoint {trial} ({what})")
        assert not out.exists()


# --- bundle files → enof-run -------------------------------------------------------------------

def _quant_mutant(arrays: dict, rng) -> tuple[dict, str]:
    arrays = {k: v.copy() for k, v in arrays.items()}
    integer = sorted(k for k, v in arrays.items() if v.dtype.kind in "iu" and v.size)
    floats = sorted(k for k, v in arrays.items() if v.dtype.kind == "f" and v.size)
    kind = int(rng.integers(0, 5))
    if kind <= 1 and integer:
        name = str(rng.choice(integer))
        flat = arrays[name].reshape(-1)
        # thresholds may be up to 2^17 − 1: theirs are the only integers for which 10,000 is in range
        bad = [0, -5, 2**17, 2**31 - 1] if name.endswith("vth") else [10_000, -10_000, 2**31 - 1, 10**6, -(2**24)]
        flat[int(rng.integers(0, flat.size))] = int(pick(rng, bad))
        return arrays, f"{name} out of range"
    if kind == 2 and floats:
        name = str(rng.choice(floats))
        flat = arrays[name].reshape(-1)
        flat[int(rng.integers(0, flat.size))] = float(pick(rng, [math.nan, math.inf]))
        return arrays, f"{name} non-finite"
    if kind == 3:
        name = str(rng.choice(sorted(arrays)))
        arrays[name] = arrays[name].reshape(-1)[:-1] if arrays[name].size > 1 else np.zeros((3, 3), arrays[name].dtype)
        return arrays, f"{name} reshaped"
    name = str(rng.choice(sorted(arrays)))
    del arrays[name]
    return arrays, f"{name} missing"


def test_mutated_quant_npz_rehashed_into_the_manifest_is_refused(originals, work):
    rng = np.random.default_rng(SEED + 2)
    with np.load(originals["bundle"] / "quant.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for trial in range(110):
        bundle, out = work.copy(originals["bundle"])
        if trial % 11 == 10:  # a truncated archive
            data = (bundle / "quant.npz").read_bytes()
            (bundle / "quant.npz").write_bytes(data[: int(rng.integers(10, len(data) - 10))])
            what = "truncated"
        else:
            mutated, what = _quant_mutant(arrays, rng)
            np.savez(bundle / "quant.npz", **mutated)
        rehash(bundle, "quant.npz")
        result = invoke(run_app, [bundle, "--limit", "2", "-o", out / "run.json"])
        refused(result, f"quant {trial} ({what})")
        assert not out.exists()


def test_input_scales_past_the_input_integers_rehashed_into_the_manifest_are_refused(originals, work):
    """input.scale from 1.02× to 1e25× the largest that fits the recorded input range (1e30 ran before, the
    first layer firing at rate 1): refused in one line, nothing written
    (tests/formats/test_input_scale_bound.py runs the largest that fits)."""
    rng = np.random.default_rng(SEED + 7)
    manifest = json.loads((originals["bundle"] / "manifest.json").read_text())
    largest = (2**23 - 1) / manifest["interfaces"]["chip_input"]["input_abs_max"]  # Loihi 2: 24-bit graded input
    with np.load(originals["bundle"] / "quant.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    for factor in [*(10 ** rng.uniform(np.log10(1.02), 25, 8)), 1e30 / largest]:
        bundle, out = work.copy(originals["bundle"])
        np.savez(bundle / "quant.npz", **{**arrays, "input.scale": np.float64(largest * factor)})
        rehash(bundle, "quant.npz")
        result = invoke(run_app, [bundle, "--limit", "2", "-o", out / "run.json"])
        refused(result, f"input.scale × {factor:.3g}")
        assert "the largest input.scale that fits is" in result.stderr and not out.exists()


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, path + (key,))
    elif isinstance(obj, list) and obj and not isinstance(obj[0], (dict, list)):
        yield path, obj
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            yield from _leaves(value, path + (index,))
    else:
        yield path, obj


def _set(obj, path, value):
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


BAD_VALUES = ({"x": [1]}, [[["deep"]]], -1, 1e300, None, "", True)


def test_mutated_manifest_and_placement_fields_never_end_in_a_traceback(originals, work):
    """Every leaf of manifest.json and placement.json replaced by values of the wrong type or range.
    Fields whose every value is checked must refuse; the rest may run, and then run.json reads back."""
    rng = np.random.default_rng(SEED + 3)
    # `interfaces` and `versions` describe the bundle for a reader; the runtime takes the real values
    # from quant.npz and the ONNX graphs (which are checked), so a changed description may still run.
    must_refuse_roots = {"format", "format_version", "timesteps", "num_classes", "dataset", "input_mode", "partition",
                         "files", "target", "cores", "layers", "neuron_order"}
    trials = 0
    for name in ("manifest.json", "placement.json"):
        document = json.loads((originals["bundle"] / name).read_text())
        leaves = list(_leaves(document))
        picks = rng.choice(len(leaves), size=min(len(leaves), 70), replace=False)
        for index in picks:
            path, _value = leaves[int(index)]
            bad = BAD_VALUES[int(rng.integers(0, len(BAD_VALUES)))]
            bundle, out = work.copy(originals["bundle"])
            mutated = json.loads(json.dumps(document))
            _set(mutated, path, bad)
            (bundle / name).write_text(json.dumps(mutated))
            if name != "manifest.json":
                rehash(bundle, name)
            result = invoke(run_app, [bundle, "--limit", "2", "-o", out / "run.json"])
            trials += 1
            where = f"{name} {'.'.join(map(str, path))} = {bad!r}"
            if result.exit_code == 0:
                assert path[0] not in must_refuse_roots or path[:2] == ("target", "name"), f"{where}: accepted"
                read_run_result(out / "run.json")
            else:
                refused(result, where)
                assert not out.exists()
    assert trials >= 100


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "null", "[" * 100_000 + "]" * 100_000, '{"format": NaN}'])
def test_unparseable_manifests_are_refused(originals, work, text):
    bundle, out = work.copy(originals["bundle"])
    (bundle / "manifest.json").write_text(text)
    refused(invoke(run_app, [bundle, "--limit", "2", "-o", out / "run.json"]), f"manifest {text[:20]!r}")
    assert not out.exists()


def test_other_bundle_files_with_a_flipped_byte_are_refused_by_their_hash(originals, work):
    rng = np.random.default_rng(SEED + 4)
    for trial in range(30):
        bundle, out = work.copy(originals["bundle"])
        name = str(pick(rng, ["chip.nir", "host_out.onnx", "quant.npz", "placement.json"]))
        data = bytearray((bundle / name).read_bytes())
        data[int(rng.integers(0, len(data)))] ^= 0x10
        (bundle / name).write_bytes(bytes(data))
        refused(invoke(run_app, [bundle, "--limit", "2", "-o", out / "run.json"]), f"flip in {name}")
        assert not out.exists()


# --- run.json → enof-energy --------------------------------------------------------------------

def test_mutated_run_json_is_refused_or_priced_without_a_traceback(originals, work):
    rng = np.random.default_rng(SEED + 5)
    document = json.loads(originals["run"].read_text())
    numeric = [(p, v) for p, v in _leaves(document) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    picks = rng.choice(len(numeric), size=min(len(numeric), 60), replace=False)
    for index in picks:
        path, _value = numeric[int(index)]
        run, out = work.copy(originals["run"])
        mutated = json.loads(json.dumps(document))
        bad = float(pick(rng, [-5.0, math.nan, math.inf])) if rng.random() < 0.8 else "many"
        _set(mutated, path, bad)
        run.write_text(json.dumps(mutated))
        result = invoke(energy_app, [run, "-o", out / "energy.txt"])
        refused(result, f"run.json {'.'.join(map(str, path))} = {bad!r}")
        assert not out.exists()


# --- the valid edges ---------------------------------------------------------------------------

def test_untouched_inputs_and_the_largest_in_range_weight_still_pass(originals, work):
    bundle, out = work.copy(originals["bundle"])
    assert invoke(run_app, [bundle, "--limit", "2", "-o", out / "run.json"]).exit_code == 0
    with np.load(originals["bundle"] / "quant.npz", allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    weights = sorted(k for k in arrays if k.endswith("weight_int") and arrays[k].size)
    assert weights, "the bundle has integer weights"
    largest = int(np.abs(np.concatenate([arrays[k].ravel() for k in weights])).max())
    edge, out = work.copy(originals["bundle"])
    arrays[weights[0]].reshape(-1)[0] = largest  # a value the exporter itself wrote: in range
    np.savez(edge / "quant.npz", **arrays)
    rehash(edge, "quant.npz")
    assert invoke(run_app, [edge, "--limit", "2", "-o", out / "run.json"]).exit_code == 0
    run, out = work.copy(originals["run"])
    assert invoke(energy_app, [run, "-o", out / "energy.txt"]).exit_code == 0
