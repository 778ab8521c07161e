"""Where a command will write, checked before it does any work; one-line errors naming the flag.

The same rule for every command: a missing parent folder is created when the file is written (as
`atomic_open` and `write_bundle` do), so the nearest folder that exists must be one this user can
write in. A file output must not be a folder or a device; a folder output (a bundle) must not be a file.
Writing itself can still fail (a full disk): `writing` turns that OSError into the same one line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from enof.errors import EnofError


def _label(path: Path, flag: str | None) -> str:
    return f"{flag} {path}" if flag else str(path)


def _kind(path: Path, label: str) -> str | None:
    """What is at `path`: "folder", "file", "other" (a device, pipe or socket) or None (nothing)."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:  # e.g. inside a folder this user may not read
        raise EnofError(f"{label}: cannot look at {path} ({exc.strerror or exc})") from None
    return "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def check_output_file(path: str | os.PathLike, flag: str | None = None, example: str = "out.json") -> Path:
    """Refuse a file output that cannot be written: a folder or non-regular file at `path`, or no
    writable folder above it. `example` is the file name suggested when `path` is a folder."""
    path = Path(path)
    label = _label(path, flag)
    kind = _kind(path, label)
    if kind == "folder":
        raise EnofError(f"{label}: is a folder; give a file's path, e.g. {path / example}")
    if kind == "other":
        raise EnofError(f"{label}: is not a regular file (a device or pipe); give a file's path")
    _check_parents(path, label)
    return path


def check_output_folder(
    path: str | os.PathLike, flag: str | None = None, replaceable: Callable[[Path], bool] | None = None,
    what: str = "folder",
) -> Path:
    """Refuse a folder output that cannot be written: a file at `path`, an existing folder that
    `replaceable` says must not be replaced, or no writable folder above it."""
    path = Path(path)
    label = _label(path, flag)
    kind = _kind(path, label)
    if kind in ("file", "other"):
        raise EnofError(f"{label}: is a file, not a {what}; give a folder's path")
    if kind == "folder" and replaceable is not None and not replaceable(path):
        raise EnofError(f"{label}: exists and is not a {what}; refusing to replace it (give a new or empty folder)")
    _check_parents(path, label)
    return path


def _check_parents(path: Path, label: str) -> None:
    """The nearest existing folder above `path` is a folder this user may create entries in."""
    for parent in path.absolute().parents:
        kind = _kind(parent, label)
        if kind is None:
            continue  # created when the output is written
        if kind != "folder":
            raise EnofError(f"{label}: {parent} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise EnofError(f"{label}: cannot write in {parent} (permission denied)")
        return


@contextmanager
def writing(path: str | os.PathLike, flag: str | None = None) -> Iterator[None]:
    """An OSError while writing `path` (disk full, permissions changed since the check) as one line."""
    try:
        yield
    except OSError as exc:
        raise EnofError(f"{_label(Path(path), flag)}: cannot write ({exc.strerror or exc})") from None
