"""The temporary folders `write_bundle` writes beside its output, and their cleanup.

A bundle is written into `.{name}.tmp-{host}-{pid}-{random}` and renamed into place; a bundle
already there is moved aside into `.{name}.old-...` first and removed after. A writer killed in
between leaves such folders behind; the next write to the same place removes those whose writer
process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from pathlib import Path


def temporary_folder(out_dir: Path) -> Path:
    """A new, empty `.{name}.tmp-...` folder beside `out_dir`, named after this host and process."""
    return Path(tempfile.mkdtemp(prefix=_temporary_prefix(out_dir, "tmp"), dir=out_dir.parent))


def remove_stale_temporaries(out_dir: str | os.PathLike, manifest_name: str = "manifest.json") -> list[Path]:
    """Remove the folders a killed write_bundle left beside `out_dir`; returns what was removed.

    Temporary folders are named `.{name}.tmp-{host}-{pid}-{random}` (the new bundle being written) and
    `.{name}.old-{host}-{pid}-{random}` (the previous bundle, moved aside during the swap). Only folders
    of this host whose writer process no longer exists are removed, so a concurrent export's folder is
    never touched; a pid that was reused keeps its folder (safe, if wasteful). An `.old-` folder goes only
    while `out_dir` holds a bundle: otherwise it may be the last complete copy. Folders without a pid
    (written before enof recorded one) are left alone: nothing tells whether their writer still runs."""
    out_dir = Path(out_dir)
    removed: list[Path] = []
    try:
        entries = list(out_dir.parent.iterdir())
    except OSError:
        return removed
    host = _host_tag()
    for entry in entries:
        for kind in ("tmp", "old"):
            prefix = f".{out_dir.name}.{kind}-"
            if not entry.name.startswith(prefix):
                continue
            parts = entry.name[len(prefix):].split("-")
            if len(parts) != 3 or parts[0] != host or not parts[1].isdigit() or not _writer_gone(int(parts[1])):
                continue
            if kind == "old" and not (out_dir / manifest_name).is_file():
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _temporary_prefix(out_dir: Path, kind: str) -> str:
    """`.{name}.{kind}-{host}-{pid}-`: mkdtemp appends its random part (letters, digits, `_`: no `-`)."""
    return f".{out_dir.name}.{kind}-{_host_tag()}-{os.getpid()}-"


def _writer_gone(pid: int) -> bool:
    """True only when no process `pid` exists on this host (signal 0 probes without delivering)."""
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists under another user
        return False
    return False


def swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename tmp to out_dir; an old bundle there is moved aside first and removed only after."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=_temporary_prefix(out_dir, "old"), dir=out_dir.parent))
    os.replace(out_dir, old / "bundle")
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old / "bundle", out_dir)  # put the previous bundle back
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
