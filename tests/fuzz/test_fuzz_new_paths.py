"""Mutated inputs on the paths added since the first fuzz suite (issue 27): --inputs arrays, plugin modules,
fine-tuning, sweeps, torchrun ranks and event recordings. Seeded; the same rules as test_fuzz_inputs.py: no
traceback, invalid input is exit 1 with one `error:` line and nothing written, a mutant that may still be valid
either fails that way or succeeds with output that reads back, and each family runs its valid edge.

(NIR metadata, the seventh family of issue 27, belongs with the NIR-in hardening of issue 26.)
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from enof.cli.export import app as export_app
from enof.cli.run import app as run_app
from enof.cli.sweep import app as sweep_app
from enof.cli.train import app as train_app
from enof.datasets import load_dataset
from enof.datasets.cifar_dvs import CLASSES
from enof.errors import DataError
from enof.formats.run_result import read_run_result
from enof.trainer.models import ARCHITECTURES

sys.path.insert(0, str(Path(__file__).parent))
from test_fuzz_inputs import invoke, pick, refused  # noqa: E402  (the suite's rules: no traceback, one `error:` line)

pytestmark = pytest.mark.fuzz
SEED = 20261207


# --- --inputs arrays → enof-run -------------------------------------------------------------------------------

def _array_mutant(folder, rng, trial: int, good: np.ndarray):
    """(path, what, surely_invalid) of one damaged or foreign inputs file."""
    kind = int(rng.integers(0, 8))
    suffix = str(pick(rng, [".npy", ".npz"]))
    path = folder / f"m{trial}{suffix}"
    save = (lambda p, a: np.save(p, a)) if suffix == ".npy" else (lambda p, a: np.savez(p, inputs=a))
    if kind == 0:  # byte flips anywhere: header, zip directory or data
        save(path, good)
        data = bytearray(path.read_bytes())
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            data[position] ^= 1 << int(rng.integers(0, 8))
        path.write_bytes(bytes(data))
        return path, "byte flips", False
    if kind == 1:  # cut short
        save(path, good)
        data = path.read_bytes()
        path.write_bytes(data[: int(rng.integers(0, len(data) - 1))])
        return path, "truncated", True
    if kind == 2:  # a header declaring another shape over the same bytes
        shape = tuple(int(v) for v in rng.integers(1, 10**int(rng.integers(1, 7)), size=int(rng.integers(1, 6))))
        member = folder / f"h{trial}.npy"
        with open(member, "wb") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
            f.write(good.tobytes())
        if suffix == ".npz":
            with zipfile.ZipFile(path, "w") as archive:
                archive.write(member, "inputs.npy")
        else:
            member.rename(path)
        return path, f"declared shape {shape}", shape != good.shape
    if kind == 3:  # another dtype
        dtype = pick(rng, ["int32", "uint8", "bool", "complex64", "<U3", "datetime64[s]"])
        save(path, good.astype(dtype) if dtype != "<U3" else good.astype(int).astype(dtype))
        return path, f"dtype {dtype}", True
    if kind == 4:  # values no sample holds
        bad = good.copy()
        bad.reshape(-1)[int(rng.integers(0, bad.size))] = float(pick(rng, [math.nan, math.inf, -math.inf]))
        save(path, bad)
        return path, "non-finite", True
    if kind == 5:  # another rank
        save(path, good.reshape(len(good), -1) if rng.random() < 0.5 else good[None])
        return path, "rank", True
    if kind == 6:  # the other kind under this name
        other = folder / f"o{trial}{'.npz' if suffix == '.npy' else '.npy'}"
        if suffix == ".npy":
            np.savez(other, inputs=good)
        else:
            np.save(other, good)
        other.rename(path)
        return path, "misnamed", True
    with zipfile.ZipFile(folder / f"z{trial}.npz", "w") as archive:  # an archive of foreign members
        archive.writestr(str(pick(rng, ["inputs", "inputs.npy", "x.npy"])), rng.bytes(int(rng.integers(0, 200))))
    (folder / f"z{trial}.npz").rename(path.with_suffix(".npz"))
    return path.with_suffix(".npz"), "foreign members", True


def test_mutated_inputs_files_never_end_in_a_traceback(digits_bundle, tmp_path):
    bundle, _ = digits_bundle("loihi2")
    rng = np.random.default_rng(SEED)
    good = rng.uniform(0, 16, (3, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "good.npy", good)
    assert invoke(run_app, [bundle, "-q", "--inputs", tmp_path / "good.npy", "-o", tmp_path / "good.json"]).exit_code == 0
    for trial in range(48):
        path, what, invalid = _array_mutant(tmp_path, rng, trial, good)
        out = tmp_path / f"out{trial}.json"
        result = invoke(run_app, [bundle, "-q", "--inputs", path, "-o", out])
        if result.exit_code == 0 and not invalid:
            assert read_run_result(out).samples == 3, what
            continue
        refused(result, f"inputs {trial} ({what})")
        assert not out.exists()


# --- plugin modules → --plugin -------------------------------------------------------------------------------

REGISTER = "from enof.trainer.models import register_architecture\n"
BUILDER = "def build(acts, width=4):\n    from torch import nn\n    return nn.Sequential(nn.Conv2d(1, width, 3), acts(last=True)), width\n"


def _plugin_source(rng, name: str) -> tuple[str, bool]:
    """(module text, valid)."""
    kind = int(rng.integers(0, 7))
    if kind == 0:
        error = pick(rng, ["RuntimeError('x')", "KeyError('k')", "ZeroDivisionError()", "ImportError('inner')",
                           "MemoryError()", "RecursionError()", "ValueError('')"])
        return f"raise {error}\n", False
    if kind == 1:
        return pick(rng, ["def f(:\n", "x = = 1\n", "\tindented\n", "import\n", "return 5\n", "(\n"]), False
    if kind == 2:
        return f"import sys\nsys.exit({pick(rng, [0, 1, 3, None, repr('bye')])!s})\n", False
    if kind == 3:
        bad_name = pick(rng, ["''", "' '", "'a b'", "None", "3", "' x'"])
        return f"{REGISTER}{BUILDER}register_architecture({bad_name}, build, 10, (1, 8, 8))\n", False
    if kind == 4:
        classes = pick(rng, ["0", "-1", "'10'", "2.5", "True", "None"])
        return f"{REGISTER}{BUILDER}register_architecture('{name}', build, {classes}, (1, 8, 8))\n", False
    if kind == 5:
        shape = pick(rng, ["(1, 8)", "(0, 8, 8)", "'188'", "None", "(1, 8, -8)", "(1.5, 8, 8)", "5"])
        return f"{REGISTER}{BUILDER}register_architecture('{name}', build, 10, {shape})\n", False
    return f"{REGISTER}{BUILDER}register_architecture('{name}', build, 10, (1, 8, 8))\n", True


def test_mutated_plugin_modules_are_one_line_or_register(tmp_path, monkeypatch):
    rng = np.random.default_rng(SEED + 1)
    monkeypatch.chdir(tmp_path)
    before = dict(ARCHITECTURES)
    try:
        for trial in range(36):
            name = f"fuzz_net_{trial}"
            text, valid = _plugin_source(rng, name)
            module = f"fuzz_plugin_{trial}"
            (tmp_path / f"{module}.py").write_text(text)
            plugin = f"./{module}.py" if rng.random() < 0.5 else module
            monkeypatch.syspath_prepend(str(tmp_path))
            result = invoke(export_app, [tmp_path / "none.pt", "--target", "loihi2", "--plugin", plugin,
                                         "-o", tmp_path / "b"])  # fmt: skip
            refused(result, f"plugin {trial}: {text!r}")
            assert not (tmp_path / "b").exists()
            if valid:  # accepted: the error is the missing checkpoint's, and the name is registered
                assert "--plugin" not in result.stderr and name in ARCHITECTURES, result.stderr
            else:
                assert f"--plugin {plugin}: " in result.stderr and name not in ARCHITECTURES, result.stderr
    finally:
        ARCHITECTURES.clear()
        ARCHITECTURES.update(before)


# --- fine-tuning → enof-train finetune -------------------------------------------------------------------

def test_mutated_finetune_options_are_refused_before_any_work(digits_bundle, tmp_path):
    model = digits_bundle("loihi2")[0].parent / "model.pt"
    rng = np.random.default_rng(SEED + 2)
    options = [("--seed", ["-1", str(2**32), str(2**70)]), ("--weight-bits", ["1", "9", "0", "-3"]),
               ("--target", ["loihi9", "", "/no/such.toml"]), ("--epochs", ["0", "-2"]), ("--calibrate", ["0"]),
               ("--train-limit", ["0"]), ("--plugin", ["./missing.py", "", "no_module_x"])]  # fmt: skip
    for trial in range(24):
        flag, values = options[int(rng.integers(0, len(options)))]
        out = tmp_path / f"ft{trial}.pt"
        result = invoke(train_app, ["finetune", model, "--target", "loihi2", flag, pick(rng, values), "-o", out])
        assert result.exit_code in (1, 2), f"{flag}: {result.output}"  # 2: click's own range checks (min=1)
        if result.exit_code == 1:
            refused(result, f"finetune {trial} {flag}")
        assert not out.exists()
    edge = invoke(train_app, ["finetune", model, "--target", "loihi2", "--seed", str(2**32 - 1), "--epochs", "1",
                              "--train-limit", "32", "--calibrate", "4", "-o", tmp_path / "edge.pt", "--json"])
    assert edge.exit_code == 0, edge.output
    assert (tmp_path / "edge.pt").is_file()


# --- sweep → enof-sweep ---------------------------------------------------------------------------------

def test_mutated_sweep_options_are_refused_before_any_file_is_written(tmp_path):
    rng = np.random.default_rng(SEED + 3)
    options = [("--timesteps", ["0", "16777217", "1,-1", "a", "", "1.5"]), ("--seeds", ["-1", str(2**70), "x", ""]),
               ("--weight-bits", ["1", "99", "8;4", "b"]), ("--repact", ["maybe", ""]),
               ("--dataset", ["cifar10", "nmnist", "imagenet"]), ("--data-root", ["/no/such/root"]),
               ("--arch", ["resnet1000", ""]), ("--target", ["loihi9", "/none.toml"]),
               ("--plugin", ["./none.py", ""]), ("--frame-size", ["8x", "0", "x8x8"])]  # fmt: skip
    for trial in range(30):
        flag, values = options[int(rng.integers(0, len(options)))]
        out = tmp_path / f"sweep{trial}"
        args = ["--dataset", "digits", "--timesteps", "1", "--epochs", "1", flag, pick(rng, values), "-o", out]
        if flag == "--data-root":
            args[1] = "cifar10"
        refused(invoke(sweep_app, args), f"sweep {trial} {flag}")
        assert not out.exists()


# --- torchrun ranks → enof-run ---------------------------------------------------------------------------

def test_one_ranks_mutated_inputs_are_one_line_from_rank_0(digits_bundle, digits_test_set, tmp_path):
    bundle, _ = digits_bundle("loihi")
    rng = np.random.default_rng(SEED + 4)
    good = digits_test_set[0][:4]
    np.save(tmp_path / "good.npy", good)
    for trial in range(2):
        path, what, _ = _array_mutant(tmp_path, rng, 100 + trial, good)
        bad_rank = int(rng.integers(0, 2))
        files = [tmp_path / "good.npy", tmp_path / "good.npy"]
        files[bad_rank] = path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs = [subprocess.Popen([sys.executable, "-m", "enof.cli.run", str(bundle), "-q", "--normalized", "--inputs",
                                   str(f), "-o", str(tmp_path / f"r{trial}.json")], text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2",
                                  "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
                 for r, f in enumerate(files)]  # fmt: skip
        done = [p.communicate(timeout=300) for p in procs]
        codes = [p.returncode for p in procs]
        if codes == [0, 0]:  # a mutant that is still valid (a flipped bit in the data)
            assert read_run_result(tmp_path / f"r{trial}.json").samples == 4
            continue
        lines = [line for _, err in done for line in err.splitlines() if line.strip()]
        assert codes == [1, 1] and len(lines) == 1 and lines[0].startswith("error: "), (what, codes, lines)
        assert done[0][1].strip() == lines[0] and "Traceback" not in lines[0]
        assert not (tmp_path / f"r{trial}.json").exists()


# --- event recordings → the event data sets' loaders -----------------------------------------------------------

def _recording_mutant(rng, n: int):
    """(arrays t, x, y, p of one recording, surely invalid)."""
    rows = {"t": np.sort(rng.integers(0, 50_000, n)), "x": rng.integers(0, 128, n), "y": rng.integers(0, 128, n),
            "p": rng.integers(0, 2, n)}  # fmt: skip
    field = str(pick(rng, ["t", "x", "y", "p"]))
    kind = int(rng.integers(0, 8))
    values = rows[field].astype(np.float64)
    at = int(rng.integers(0, n))
    if kind == 0:
        values[at] = float(pick(rng, [math.nan, math.inf, -math.inf]))
    elif kind == 1:
        values[at] = -float(rng.integers(1, 1000))
    elif kind == 2:
        values[at] += 0.5
    elif kind == 3:
        values = np.stack([values, values], axis=1)
    elif kind == 4:
        values = values[: int(rng.integers(0, n))]
    elif kind == 5:
        values = values.astype(int).astype("<U6")
    elif kind == 6:
        values[at] = {"t": 2.0**45, "x": 128.0, "y": 500.0, "p": 2.0}[field]
    else:  # a permutation of the events: valid
        order = rng.permutation(n)
        return {k: v[order] for k, v in rows.items()}, False
    rows[field] = values
    return rows, not (kind == 2 and field == "t")  # a fractional µs is a time (rounded), not a damage


def test_mutated_event_recordings_are_one_line_naming_the_file_or_bin(tmp_path):
    rng = np.random.default_rng(SEED + 5)
    for name in CLASSES:
        (tmp_path / name).mkdir()
        for i in range(2):
            np.savez(tmp_path / name / f"{i}.npz", t=np.arange(30), x=np.full(30, 3), y=np.full(30, 4), p=np.ones(30, int))
    data = load_dataset("cifar10dvs", tmp_path, train_augment=False, timesteps=3)
    path = tmp_path / "frog" / "0.npz"
    index = data.train.files.index(path)
    assert data.train[index][0].shape == (3, 2, 48, 48)  # the valid edge
    for trial in range(48):
        arrays, invalid = _recording_mutant(rng, 40)
        np.savez(path, **arrays)
        try:
            frames, _ = data.train[index]
        except DataError as exc:
            text = str(exc)
            assert text.startswith(f"cifar10dvs: {path}") and "\n" not in text, text
            continue
        assert not invalid, f"recording {trial}: accepted {[(k, v.dtype, v.shape) for k, v in arrays.items()]}"
        assert float(frames.sum()) > 0
