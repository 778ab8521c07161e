"""Reading a user's ``.npy`` / ``.npz`` arrays without trusting them: the file's first bytes say which of the two it
is (whatever its name says), every array's header is read before its data, and a declared shape larger than the
bytes that hold it is refused before anything is allocated (a damaged header can declare terabytes).

Every failure is one ``RunError`` line naming the file (and the member of an archive).
"""

from __future__ import annotations

import zipfile
import zlib
from math import prod
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from enof.errors import RunError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first local file header, or an empty archive's end record
# What a broken archive or member raises from zipfile, zlib and numpy's header parser.
_DAMAGED = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, KeyError)


def kind_of(path: Path, flag: str) -> str:
    """".npy" or ".npz" from the file's first bytes; a RunError for a missing file, a foreign one, or one whose
    name says the other kind (np.load would read it as the wrong thing)."""
    try:
        with path.open("rb") as f:
            head = f.read(len(NPY_MAGIC))
    except OSError as exc:
        raise RunError(f"{flag} {path}: cannot read it ({exc.strerror or exc})") from None
    kind = ".npy" if head.startswith(NPY_MAGIC) else ".npz" if head[:4] in ZIP_MAGICS else None
    if kind is None:
        raise RunError(f"{flag} {path}: cannot read as {path.suffix}: not a NumPy file (it starts with {head!r}); "
                       "write it with np.save or np.savez")
    if kind != path.suffix:
        raise RunError(f"{flag} {path}: a {kind} file under a {path.suffix} name; rename it to "
                       f"{path.with_suffix(kind).name}")
    return kind


def _header(f, where: str, available: int) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header bytes) of the .npy stream ``f``; refuses object arrays and a shape that needs more
    than the ``available`` bytes of the file or member."""
    version = npy_format.read_magic(f)
    shape, _, dtype = npy_format._read_array_header(f, version, max_header_size=npy_format._MAX_HEADER_SIZE)
    header = f.tell()
    if dtype.hasobject:
        raise RunError(f"{where}: an array of Python objects (pickled); save numbers, e.g. np.asarray(x, np.float32)")
    needed = prod(shape) * dtype.itemsize
    if needed > available - header:
        raise RunError(f"{where}: its header declares shape {tuple(shape)} of {dtype} ({byte_size(needed)}) but the file "
                       f"holds {byte_size(max(available - header, 0))} of data: truncated or damaged")
    return tuple(shape), dtype, header


def read_npy(path: Path, flag: str) -> np.ndarray:
    """The array of a .npy file, memory-mapped read-only (a run holds one batch in memory, not the file)."""
    where = f"{flag} {path}"
    try:
        with path.open("rb") as f:
            _header(f, where, path.stat().st_size)
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except RunError:
        raise
    except _DAMAGED as exc:
        raise RunError(f"{where}: cannot read as .npy ({_first_line(exc)})") from None


def read_npz(path: Path, flag: str, wanted: tuple[str, ...], hint: str) -> dict[str, np.ndarray]:
    """The arrays ``wanted`` of a .npz archive that it holds (the first of ``wanted`` is required: its absence
    is an error ending in ``hint``); each member checked as a .npy array before it is read whole."""
    where = f"{flag} {path}"
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: info for info in archive.infolist()}
            names = sorted(n[: -len(".npy")] if n.endswith(".npy") else n for n in members)
            if wanted[0] not in names:
                raise RunError(f"{where}: no '{wanted[0]}' array (it holds {', '.join(names) or 'nothing'}); {hint}")
            arrays = {}
            for name in (n for n in wanted if n in names):
                info = members.get(f"{name}.npy")
                if info is None:
                    raise RunError(f"{where}: member '{name}' is not a .npy array (no .npy name); {hint}")
                member = f"{where} ['{name}']"
                with archive.open(info) as f:
                    try:
                        _header(f, member, info.file_size)
                    except (ValueError, EOFError) as exc:
                        raise RunError(f"{member}: not a readable .npy array ({_first_line(exc)})") from None
                with archive.open(info) as f:
                    arrays[name] = npy_format.read_array(f, allow_pickle=False)
            return arrays
    except RunError:
        raise
    except _DAMAGED as exc:
        raise RunError(f"{where}: cannot read as .npz ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def byte_size(size: int) -> str:
    """Bytes in the largest binary unit that leaves at least 1 (16384 -> '16.0 KiB')."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    power = min(max(int(size).bit_length() - 1, 0) // 10, len(units) - 1)
    return f"{size / 2 ** (10 * power):,.1f} {units[power]}"
