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
