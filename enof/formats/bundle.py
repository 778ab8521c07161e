"""The export bundle (docs/design.md §5): a directory with manifest.json and the files it hashes.

`write_bundle(out_dir, manifest, files)` writes every file into a temporary directory beside
`out_dir`, hashes each into the manifest, writes manifest.json last and only then renames the
directory into place: an existing bundle is replaced only by a complete one, and a failure leaves
neither a half bundle nor the temporary directory. `read_bundle(dir)` checks the format name and
version, that every listed file exists and that its sha256 matches, before anyone uses a byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import BinaryIO, Union

from enof.formats.atomic import default_mode
from enof.errors import BundleError

BUNDLE_FORMAT = "enof-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
INPUT_MODES = ("graded", "current")
WHERE = ("chip", "host_in", "host_out")
# Files every bundle has; host_in.onnx only in current mode (the analog first layer on the host).
REQUIRED_FILES = ("chip.nir", "host_out.onnx", "quant.npz", "placement.json")
HOST_IN_FILE = "host_in.onnx"
_CHUNK = 1 << 20

FileContent = Union[bytes, str, os.PathLike, BinaryIO]


@dataclass(frozen=True)
class TargetInfo:
    name: str
    profile_sha256: str
    profile: str  # the profile's TOML text, so a bundle is priced by the profile it was exported for


@dataclass(frozen=True)
class PartitionRecord:
    node: str
    where: str  # chip | host_in | host_out
    shape: list[int]
    reason: str

    def __post_init__(self):
        if self.where not in WHERE:
            raise ValueError(f"partition node {self.node!r}: where={self.where!r} is not one of {', '.join(WHERE)}")


@dataclass(frozen=True)
class Manifest:
    """manifest.json. `files` and (if left empty) `versions` are filled in by write_bundle."""

    checkpoint_sha256: str
    target: TargetInfo
    timesteps: int
    num_classes: int
    dataset: dict
    input_mode: str  # "graded" | "current"
    partition: tuple[PartitionRecord, ...]
    interfaces: dict | list = field(default_factory=dict)  # tensors between parts: shapes and time handling
    files: dict[str, str] = field(default_factory=dict)  # name -> sha256 of its bytes
    versions: dict[str, str] = field(default_factory=dict)  # enof, nir, onnx, torch

    def __post_init__(self):
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode {self.input_mode!r} is not one of {', '.join(INPUT_MODES)}")
        if not (isinstance(self.timesteps, int) and self.timesteps > 0):
            raise ValueError(f"timesteps must be a positive integer, got {self.timesteps!r}")
        if not (isinstance(self.num_classes, int) and self.num_classes > 0):
            raise ValueError(f"num_classes must be a positive integer, got {self.num_classes!r}")

    def required_files(self) -> tuple[str, ...]:
        return REQUIRED_FILES + ((HOST_IN_FILE,) if self.input_mode == "current" else ())

    def to_dict(self) -> dict:
        body = asdict(self)
        body["partition"] = [asdict(p) for p in self.partition]
        return {"format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, **body}

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=1, sort_keys=False) + "\n").encode("utf-8")


@dataclass(frozen=True)
class Bundle:
    """A checked bundle on disk: its manifest and the path of every file it lists."""

    root: Path
    manifest: Manifest
    manifest_sha256: str  # run.json's bundle_manifest_sha256
    paths: dict[str, Path]

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


def manifest_from_dict(data: dict, label: str) -> Manifest:
    """Check format name, version and fields; a problem is one BundleError line naming `label`."""
    if not isinstance(data, dict):
        raise BundleError(f"{label}: expected a JSON object")
    if data.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{label}: format {data.get('format')!r} is not {BUNDLE_FORMAT!r}")
    if data.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{label}: format_version {data.get('format_version')!r} is not supported "
            f"(this enof reads {BUNDLE_FORMAT_VERSION}; re-export the bundle)"
        )
    try:
        fields = {k: data[k] for k in ("checkpoint_sha256", "target", "timesteps", "num_classes",
                                       "dataset", "input_mode", "partition", "files")}
        target = TargetInfo(**fields.pop("target"))
        partition = tuple(PartitionRecord(**p) for p in fields.pop("partition"))
        manifest = Manifest(target=target, partition=partition, interfaces=data.get("interfaces", {}),
                            versions=data.get("versions", {}), **fields)
    except KeyError as exc:
        raise BundleError(f"{label}: field {exc.args[0]!r} missing") from None
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{label}: {str(exc).splitlines()[0]}") from None
    if not isinstance(manifest.files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in manifest.files.items()
    ):
        raise BundleError(f"{label}: files must map file names to sha256 strings")
    return manifest


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
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc}); the bundle is truncated or damaged") from None
    manifest = manifest_from_dict(data, str(manifest_path))
    for name in manifest.required_files():
        if name not in manifest.files:
            raise BundleError(f"{manifest_path}: does not list {name} (required in {manifest.input_mode} mode)")
    paths = {}
    for name, expected in manifest.files.items():
        path = root / _check_name(name, str(manifest_path))
        if not path.is_file():
            raise BundleError(f"{path}: missing (listed in {MANIFEST_NAME})")
        if _sha256_file(path) != expected:
            raise BundleError(f"{path}: sha256 mismatch (file changed after export)")
        paths[name] = path
    return Bundle(root=root, manifest=manifest, manifest_sha256=hashlib.sha256(raw).hexdigest(), paths=paths)


def write_bundle(out_dir: str | os.PathLike, manifest: Manifest | dict, files: dict[str, FileContent]) -> Manifest:
    """Write `files` (bytes, a path to copy, or a binary file object) and manifest.json atomically.

    `manifest` is a Manifest or its JSON dict (checked like a read one; `files` hashes are
    recomputed from what is written). Returns the manifest as written (hashes, versions filled)."""
    out_dir = Path(out_dir)
    if isinstance(manifest, dict):
        manifest = manifest_from_dict(
            {**manifest, "format": BUNDLE_FORMAT, "format_version": BUNDLE_FORMAT_VERSION, "files": {}},
            f"{out_dir / MANIFEST_NAME} (to write)",
        )
    missing = [n for n in manifest.required_files() if n not in files]
    if missing:
        raise BundleError(f"{out_dir}: bundle lacks {', '.join(missing)} (required in {manifest.input_mode} mode)")
    if out_dir.exists() and not _replaceable(out_dir):
        raise BundleError(f"{out_dir}: exists and is not an enof bundle; refusing to replace it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        hashes = {}
        for name, content in files.items():
            _check_name(name, str(out_dir))
            hashes[name] = _write_one(tmp / name, content)
        written = replace(manifest, files=hashes, versions=manifest.versions or current_versions())
        _write_bytes(tmp / MANIFEST_NAME, written.to_json_bytes())
        os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would hide the bundle from colleagues
        _swap_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return written


def _check_name(name: str, label: str) -> str:
    if (not isinstance(name, str) or not name or name == MANIFEST_NAME or name != os.path.basename(name)
            or name in (".", "..")):
        raise BundleError(f"{label}: bad bundle file name {name!r} (plain file names only, not {MANIFEST_NAME})")
    return name


def _replaceable(path: Path) -> bool:
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
    while chunk := src.read(_CHUNK):
        digest.update(chunk)
        out.write(chunk)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _swap_into_place(tmp: Path, out_dir: Path) -> None:
    """Rename tmp to out_dir; an old bundle there is moved aside first and removed only after."""
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.replace(out_dir, old / "bundle")
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old / "bundle", out_dir)  # put the previous bundle back
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
