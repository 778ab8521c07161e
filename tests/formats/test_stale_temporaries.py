"""A write_bundle killed with SIGKILL leaves its temporary folder; the next export removes it, but never the
folder of a writer that is still running, of another host, or one that may hold the only previous bundle."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from enof.formats.bundle import read_bundle, write_bundle
from enof.formats.bundle_temporaries import remove_stale_temporaries

_HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname())  # as the folder names record it (no '-': the separator)

# A child that starts write_bundle and blocks inside it (a file whose read never returns), saying when.
_BLOCKED_WRITER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from enof.formats.bundle import write_bundle

    source, out = Path(sys.argv[1]), Path(sys.argv[2])

    class Blocking:
        def read(self, size=-1):
            print("writing", flush=True)
            sys.stdin.read()  # until the parent closes stdin or kills us
            return b""

    manifest = json.loads((source / "manifest.json").read_text())
    files = {name: source / name for name in manifest["files"]}
    files["quant.npz"] = Blocking()
    write_bundle(out, manifest, files)
""")


@pytest.fixture
def source(digits_bundle):
    return digits_bundle("loihi2")[0]


def _export(source, out):
    manifest = json.loads((source / "manifest.json").read_text())
    return write_bundle(out, manifest, {name: source / name for name in manifest["files"]})


def _blocked_writer(source, out) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", _BLOCKED_WRITER, str(source), str(out)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout.readline() == "writing\n"  # its temporary folder exists now
    return child


def _temporaries(folder, name="bundle"):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{name}."))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_exports_temporary_folder_is_removed_by_the_next_export(source, tmp_path):
    out = tmp_path / "bundle"
    child = _blocked_writer(source, out)
    (left,) = _temporaries(tmp_path)
    assert left.startswith(f".bundle.tmp-{_HOST}-{child.pid}-")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _temporaries(tmp_path) == [left] and not out.exists()  # SIGKILL runs no cleanup
    _export(source, out)
    assert _temporaries(tmp_path) == [] and read_bundle(out).manifest.timesteps == 2


def test_a_running_exports_folder_is_left_alone(source, tmp_path):
    out = tmp_path / "bundle"
    child = _blocked_writer(source, out)
    try:
        (running,) = _temporaries(tmp_path)
        _export(source, out)  # a second export to the same place while the first still writes
        assert _temporaries(tmp_path) == [running] and read_bundle(out)
    finally:
        child.kill()
        child.wait()
    assert remove_stale_temporaries(out) == [tmp_path / running]


def test_only_this_hosts_dead_writers_folders_go_and_a_backup_only_beside_a_bundle(source, tmp_path):
    host, dead = _HOST, _dead_pid()
    for name in (f".bundle.tmp-{host}-{dead}-abc123", f".bundle.old-{host}-{dead}-def456",
                 f".bundle.tmp-otherhost-{dead}-ghi789", ".bundle.tmp-k2j4h5g6",  # another host; before pids were recorded
                 f".bundle.tmp-{host}-{os.getpid()}-jkl012", f".photos.tmp-{host}-{dead}-mno345"):  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "quant.npz").write_bytes(b"x" * 1000)
    out = tmp_path / "bundle"
    # No bundle in place: the dead writer's backup may be the last complete copy, so it stays.
    assert remove_stale_temporaries(out) == [tmp_path / f".bundle.tmp-{host}-{dead}-abc123"]
    _export(source, out)
    assert _temporaries(tmp_path) == sorted([".bundle.tmp-k2j4h5g6", f".bundle.tmp-{host}-{os.getpid()}-jkl012",
                                             f".bundle.tmp-otherhost-{dead}-ghi789"])  # fmt: skip
    assert (tmp_path / f".photos.tmp-{host}-{dead}-mno345").is_dir()  # another bundle's: not this export's business
