"""Fixtures for the readers' checks: copies of a real exported bundle (and its run.json) that a test edits.

An edited file is re-hashed into manifest.json, as a careless or hostile editor would do, so that what
stands between the edit and the simulators is the readers' content checks, not the sha256 check.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


class EditedBundle:
    def __init__(self, root: Path):
        self.root = root

    # ---- manifest.json (not hashed: it holds the hashes)
    def manifest(self) -> dict:
        return json.loads((self.root / "manifest.json").read_text())

    def write_manifest(self, data: dict | str | bytes) -> None:
        raw = data if isinstance(data, (str, bytes)) else json.dumps(data)
        (self.root / "manifest.json").write_bytes(raw.encode() if isinstance(raw, str) else raw)

    def edit_manifest(self, edit) -> None:
        data = self.manifest()
        edit(data)
        self.write_manifest(data)

    # ---- any listed file, re-hashed
    def write_file(self, name: str, content: bytes) -> None:
        (self.root / name).write_bytes(content)
        data = self.manifest()
        data["files"][name] = hashlib.sha256(content).hexdigest()
        self.write_manifest(data)

    def quant(self) -> dict[str, np.ndarray]:
        with np.load(self.root / "quant.npz") as data:
            return {k: data[k] for k in data.files}

    def edit_quant(self, **changes) -> None:
        """`changes`: key (dots as '__') -> new array, or None to delete the entry."""
        arrays = self.quant()
        for key, value in changes.items():
            key = key.replace("__", ".")
            if value is None:
                del arrays[key]
            else:
                arrays[key] = value
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        self.write_file("quant.npz", buffer.getvalue())

    def placement(self) -> dict:
        return json.loads((self.root / "placement.json").read_text())

    def write_placement(self, data: dict | str) -> None:
        self.write_file("placement.json", (data if isinstance(data, str) else json.dumps(data)).encode())


@pytest.fixture
def edited_bundle(digits_bundle, tmp_path):
    """Factory: ``edited_bundle(target="loihi2"|"loihi")`` -> EditedBundle on a fresh copy of the exported bundle."""

    def make(target: str = "loihi2") -> EditedBundle:
        source, _ = digits_bundle(target)
        root = tmp_path / f"bundle-{target}"
        shutil.copytree(source, root)
        return EditedBundle(root)

    return make


@pytest.fixture(scope="session")
def digits_run(digits_bundle, digits_test_set, tmp_path_factory):
    """Factory: ``digits_run(target)`` -> (bundle dir, run.json dict) of 4 test digits on the fast simulator."""
    from enof.formats.run_result import write_run_result
    from enof.runtime.bundle import open_bundle
    from enof.runtime.run import run_bundle

    made = {}

    def make(target: str = "loihi2"):
        if target not in made:
            bundle, _ = digits_bundle(target)
            images, labels = digits_test_set
            run = run_bundle(open_bundle(bundle), images[:4], labels[:4], progress=False)
            path = write_run_result(run, tmp_path_factory.mktemp(f"run_{target}") / "run.json")
            made[target] = (bundle, json.loads(path.read_text()))
        bundle, data = made[target]
        return bundle, json.loads(json.dumps(data))  # a copy to edit

    return make


def console(script: str, *args) -> subprocess.CompletedProcess:
    """Run an installed console script (enof-run, enof-energy) as a user would."""
    return subprocess.run([f"{sys.prefix}/bin/{script}", *map(str, args)], capture_output=True, text=True, timeout=300)


def assert_one_line_exit_1(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit code 1 and exactly one stderr line, 'error: ...', no traceback; returns that line."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def one_line(excinfo) -> str:
    """The message of a raised EnofError, asserted to be one line."""
    message = str(excinfo.value)
    assert "\n" not in message and message, message
    return message


@pytest.fixture
def refused():
    """``refused(call, error_type, tail)``: calling ``call()`` raises one line of ``error_type`` ending with ``tail``."""

    def check(call, error_type, tail: str) -> str:
        with pytest.raises(error_type) as excinfo:
            call()
        message = one_line(excinfo)
        assert message.endswith(tail), f"{message!r} does not end with {tail!r}"
        return message

    return check


@pytest.fixture
def cli_refuses():
    """``cli_refuses(script, *args, fragments=(...))``: the console script exits 1 with one 'error: ...' line."""

    def check(script: str, *args, fragments=()) -> str:
        return assert_one_line_exit_1(console(script, *args), *fragments)

    return check
