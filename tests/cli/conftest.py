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
    """``one_line_error(result, *fragments)``: a CliRunner result that is exit 2 with one ``error:`` line on
    stderr holding every fragment, and no traceback."""

    def check(result, *fragments):
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
        for fragment in fragments:
            assert fragment in lines[0], lines[0]

    return check


@pytest.fixture
def refuses_read_only_output(read_only_folder, unprivileged):
    """``refuses_read_only_output(command, *args, flag="-o", name="out")``: the installed ``command`` with
    ``args`` and ``flag <read-only folder>/name``, run where permissions apply, exits 2 with the one line
    saying it cannot write there, and leaves the folder empty."""

    def check(command: str, *args, flag: str = "-o", name: str = "out") -> None:
        out = read_only_folder / name
        argv = unprivileged([f"{sys.prefix}/bin/{command}", *map(str, args), flag, str(out)])
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip() == f"error: {flag} {out}: cannot write in {read_only_folder} (permission denied)"
        assert list(read_only_folder.iterdir()) == []

    return check
