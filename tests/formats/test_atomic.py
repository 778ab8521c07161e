"""Atomic writes: whole or nothing, and readable like any file the user writes."""

import os
import stat

import pytest

from enof.formats.atomic import atomic_open, atomic_write_text, default_mode


def test_atomic_write_gives_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "sub" / "run.json", "{}\n")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644 == default_mode()
        assert path.read_text() == "{}\n"
    finally:
        os.umask(old)


def test_an_error_while_writing_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk on fire"):
        with atomic_open(path, "wb") as handle:
            handle.write(b"half of the new")
            raise RuntimeError("disk on fire")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
