"""CLI fixtures: the one-line-error check, a folder this user cannot write in, and commands run without
root's override of permissions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest


@pytest.fixture
def read_only_folder(tmp_path):
    """An existing folder with mode 0555 (restored afterwards so pytest can remove it)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.fixture
def unprivileged():
    """``unprivileged(argv) -> argv`` that permission checks apply to: as root (containers, CI) without
    CAP_DAC_OVERRIDE (setpriv), for which a 0555 folder is writable; otherwise unchanged."""
    if os.geteuid() != 0:
        return lambda argv: list(argv)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made unwritable")
    return lambda argv: [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]


@pytest.fixture
def one_line_error():
    """``one_line_error(result, *fragments)``: a CliRunner result that is exit 1 with one ``error:`` line on
    stderr holding every fragment, and no traceback."""

    def check(result, *fragments):
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
        for fragment in fragments:
            assert fragment in lines[0], lines[0]

    return check


@pytest.fixture
def refuses_read_only_output(read_only_folder, unprivileged):
    """``refuses_read_only_output(command, *args, flag="-o", name="out")``: the installed ``command`` with
    ``args`` and ``flag <read-only folder>/name``, run where permissions apply, exits 1 with the one line
    saying it cannot write there, and leaves the folder empty."""

    def check(command: str, *args, flag: str = "-o", name: str = "out") -> None:
        out = read_only_folder / name
        argv = unprivileged([f"{sys.prefix}/bin/{command}", *map(str, args), flag, str(out)])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.strip() == f"error: {flag} {out}: cannot write in {read_only_folder} (permission denied)"
        assert list(read_only_folder.iterdir()) == []

    return check


@pytest.fixture
def count_reader_calls(monkeypatch):
    """``count_reader_calls() -> calls``: from then on, every call of a bundle reader (hashing, manifest, chip
    program, placement, ONNX interface checks), wherever enof binds it, is recorded in
    ``calls[reader name]`` by its first argument."""
    from enof.formats import bundle, digest, host_graphs, placement
    from enof.runtime import chip_nir

    readers = (digest.file_sha256, bundle.read_bundle, chip_nir.program_from_bundle, placement.read_placement,
               placement.read_placement_json, placement.placement_from_dict, host_graphs.check_host_out,
               host_graphs.check_host_in)  # fmt: skip

    def start() -> dict[str, list]:
        calls = {real.__name__: [] for real in readers}
        for real in readers:
            def counted(*args, _real=real, **kwargs):
                calls[_real.__name__].append(args[0] if args else None)
                return _real(*args, **kwargs)

            for module in list(sys.modules.values()):
                if getattr(module, "__name__", "").startswith("enof") and getattr(module, real.__name__, None) is real:
                    monkeypatch.setattr(module, real.__name__, counted)
        return calls

    return start


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """enof-train, finetune and sweep set torch's thread count for their process (CliRunner runs them in
    this one); keep the test process as it was."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


PARSERS = {  # kind → (module name, attribute): every way enof parses an ONNX graph, a JSON or a TOML text
    "onnx": (("onnx", "load"), ("onnx", "load_model"), ("onnx", "load_from_string"), ("onnx", "load_model_from_string")),
    "onnxruntime": (("onnxruntime", "InferenceSession"),),
    "json": (("json", "load"), ("json", "loads")),
    "toml": (("tomllib", "load"), ("tomllib", "loads")),
}


def _what(value) -> str:
    """What a parse read: a path as given, bytes or text by its sha256 (the same content twice shows)."""
    import hashlib

    if isinstance(value, (bytes, bytearray)):
        return f"bytes {hashlib.sha256(value).hexdigest()[:16]}"
    if isinstance(value, str) and not os.path.exists(value):
        return f"text {hashlib.sha256(value.encode()).hexdigest()[:16]}"
    if hasattr(value, "read"):  # a file object: its name
        return str(getattr(value, "name", value))
    return str(value)


@pytest.fixture
def count_parses(monkeypatch):
    """``count_parses() -> calls``: from then on every parse an enof module itself makes (the caller's module is
    enof's: json.load calling json.loads counts once) of an ONNX graph (onnx.load and its aliases, an ONNX
    Runtime session), a JSON text or a TOML text is recorded in ``calls[kind]`` by what it parsed."""
    import importlib

    def start() -> dict[str, list[str]]:
        calls: dict[str, list[str]] = {kind: [] for kind in PARSERS}
        for kind, entries in PARSERS.items():
            for module_name, attribute in entries:
                module = importlib.import_module(module_name)
                real = getattr(module, attribute)

                def counted(*args, _real=real, _kind=kind, **kwargs):
                    if sys._getframe(1).f_globals.get("__name__", "").startswith("enof"):
                        calls[_kind].append(_what(args[0] if args else kwargs.get("path_or_bytes")))
                    return _real(*args, **kwargs)

                monkeypatch.setattr(module, attribute, counted)
        return calls

    return start
