"""The export bundle (docs/design.md §5): a directory with manifest.json and the files it hashes.

`write_bundle(out_dir, manifest, files)` writes every file into a temporary directory beside
`out_dir`, hashes each into the manifest, writes manifest.json last and only then renames the
directory into place: an existing bundle is replaced only by a complete one, and a failure leaves
neither a half bundle nor the temporary directory. `read_bundle(dir)` checks the format name and
version, that every listed file exists and that its sha256 matches, before anyone uses a byte.
The manifest's record and its field checks are enof.formats.manifest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Union

from enof.errors import BundleError
from enof.formats.atomic import default_mode
from enof.formats.bundle_temporaries import remove_stale_temporaries, swap_into_place, temporary_folder
from enof.formats.digest import CHUNK_BYTES, file_sha256
from enof.formats.manifest import (
    BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MANIFEST_NAME, Manifest, checked_manifest, manifest_from_dict,
)
from enof.formats.validation import parse_json
from enof.hardware_profiles import Profile

FileContent = Union[bytes, str, os.PathLike, BinaryIO]


@dataclass(frozen=True)
class Bundle:
    """A checked bundle on disk: its manifest and the path of every file it lists."""

    root: Path
    manifest: Manifest
    manifest_sha256: str  # run.json's bundle_manifest_sha256
    paths: dict[str, Path]
    # The target profile manifest.json embeds (its sha256 checked); None when it no longer loads (a profile
    # schema that gained a field since the export): `profile_problem` then says why.
    profile: Profile | None = None
    profile_problem: str = ""

    def path(self, name: str) -> Path:
        if name not in self.paths:
            raise BundleError(f"{self.root / name}: not in this bundle (files: {', '.join(sorted(self.paths))})")
        return self.paths[name]


def current_versions() -> dict[str, str]:
    """Installed versions of the packages a bundle's files depend on."""
    out = {}
    for pkg in ("enof", "nir", "onnx", "torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out



def read_bundle(root: str | os.PathLike) -> Bundle:
    """Open and check a bundle directory; BundleError names the file at fault."""
    root = Path(root)
    manifest_path = root / MANIFEST_NAME
    if not root.is_dir():
        raise BundleError(f"{root}: not a bundle directory (missing)")
    try:
        raw = manifest_path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{manifest_path}: missing (not an enof bundle)") from None
    except OSError as exc:
        raise BundleError(f"{manifest_path}: cannot read ({exc.strerror})") from None
    manifest, profile, problem = checked_manifest(parse_json(raw, str(manifest_path), BundleError), str(manifest_path))
    for name in manifest.required_files():
        if name not in manifest.files:
            raise BundleError(f"{manifest_path}: does not list {name} (required in {manifest.input_mode} mode)")
    if manifest.netx.get("file") and manifest.netx["file"] not in manifest.files:
        raise BundleError(f"{manifest_path}: netx names {manifest.netx['file']}, which files does not list")
    paths = {}
    for name, expected in manifest.files.items():
        path = root / _check_name(name, str(manifest_path))
        if not path.is_file():
            raise BundleError(f"{path}: missing (listed in {MANIFEST_NAME})")
        if file_sha256(path) != expected:
            raise BundleError(f"{path}: sha256 mismatch (file changed after export)")
        paths[name] = path
    return Bundle(root=root, manifest=manifest, manifest_sha256=hashlib.sha256(raw).hexdigest(), paths=paths,
                  profile=profile, profile_problem=problem)


def write_bundle(out_dir: str | os.PathLike, manifest: Manifest | dict, files: dict[str, FileContent]) -> Manifest:
    """Write `files` (bytes, a path to copy, or a binary file object) and manifest.json atomically.

    `manifest` is a Manifest or its JSON dict (checked like a read one; `files` hashes are
    recomputed from what is written). Returns the manifest as written (hashes, versions filled)."""
    out_dir = Path(out_dir)
    body = manifest if isinstance(manifest, dict) else manifest.to_dict()
    manifest = manifest_from_dict(  # a Manifest built in memory gets the reader's checks too
        {**body, "format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, "files": {}},
        f"{out_dir / MANIFEST_NAME} (to write)",
    )
    missing = [n for n in manifest.required_files() if n not in files]
    if missing:
        raise BundleError(f"{out_dir}: bundle lacks {', '.join(missing)} (required in {manifest.input_mode} mode)")
    if out_dir.exists() and not replaceable_folder(out_dir):
        raise BundleError(f"{out_dir}: exists and is not an enof bundle; refusing to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out_dir, MANIFEST_NAME)
    tmp = temporary_folder(out_dir)
    try:
        hashes = {}
        for name, content in files.items():
            _check_name(name, str(out_dir))
            hashes[name] = _write_one(tmp / name, content)
        written = replace(manifest, files=hashes, versions=manifest.versions or current_versions())
        _write_bytes(tmp / MANIFEST_NAME, written.to_json_bytes())
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would hide the bundle from colleagues
        swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    remove_stale_temporaries(out_dir, MANIFEST_NAME)  # a backup a killed writer left is garbage now that a bundle is in place
    return written


def _check_name(name: str, label: str) -> str:
    if (not isinstance(name, str) or not name or name == MANIFEST_NAME or name != os.path.basename(name)
            or name in (".", "..")):
        raise BundleError(f"{label}: bad bundle file name {name!r} (plain file names only, not {MANIFEST_NAME})")
    return name


def replaceable_folder(path: Path) -> bool:
    """An existing out_dir may be replaced if it is an empty directory or holds a manifest.json."""
    return path.is_dir() and ((path / MANIFEST_NAME).is_file() or not any(path.iterdir()))


def _write_one(path: Path, content: FileContent) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        if isinstance(content, (bytes, bytearray, memoryview)):
            digest.update(content)
            out.write(content)
        elif isinstance(content, (str, os.PathLike)):
            with open(content, "rb") as src:
                _copy_stream(src, out, digest)
        elif hasattr(content, "read"):
            _copy_stream(content, out, digest)
        else:
            raise TypeError(f"{path.name}: content must be bytes, a path or a binary file object, not {type(content).__name__}")
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def _copy_stream(src, out, digest) -> None:
    while chunk := src.read(CHUNK_BYTES):
        digest.update(chunk)
        out.write(chunk)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())

