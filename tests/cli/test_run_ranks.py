"""enof-run under torchrun where one rank's --inputs is bad (issue 27): one `error:` line in all, printed by rank 0
and naming the rank that failed; every rank exits 1, none waits for the others and none writes run.json.

The two ranks are started as torchrun starts them (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment), each
with its own --inputs file, as on two machines whose local files differ."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_ranks(bundle, inputs: list, out) -> list[subprocess.CompletedProcess]:
    port = _free_port()
    procs = []
    for rank, path in enumerate(inputs):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}  # fmt: skip
        procs.append(subprocess.Popen([sys.executable, "-m", "enof.cli.run", str(bundle), "-q", "--normalized",
                                       "--inputs", str(path), "-o", str(out)], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))  # fmt: skip
    done = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return done


def _files(folder, digits_test_set):
    good = digits_test_set[0][:6]
    nan = good.copy()
    nan[4, 0, 2, 2] = np.nan
    np.save(folder / "good.npy", good)
    np.save(folder / "nan.npy", nan)
    np.save(folder / "shape.npy", good[:, :, :7])
    return {"good": folder / "good.npy", "nan": folder / "nan.npy", "shape": folder / "shape.npy",
            "missing": folder / "missing.npy"}


@pytest.mark.parametrize("bad_rank, bad, message", [
    (1, "nan", "rank 1 of 2: --inputs {path}: sample 4 holds NaN or Inf"),
    (1, "shape", "rank 1 of 2: --inputs {path}: shape (6, 1, 7, 8); expected (N, 1, 8, 8)"),
    (0, "missing", "--inputs {path}: cannot read it (No such file or directory)"),
])  # fmt: skip
def test_a_bad_inputs_file_on_one_rank_is_one_line_from_rank_0(digits_bundle, digits_test_set, tmp_path,
                                                                  bad_rank, bad, message):
    bundle, _ = digits_bundle("loihi")
    files = _files(tmp_path, digits_test_set)
    inputs = [files["good"], files["good"]]
    inputs[bad_rank] = files[bad]
    ranks = _two_ranks(bundle, inputs, tmp_path / "run.json")
    assert [r.returncode for r in ranks] == [1, 1], [r.stderr[-2000:] for r in ranks]
    lines = [line for r in ranks for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {message.format(path=files[bad])}"), lines
    assert ranks[0].stderr.strip() == lines[0]  # rank 0 printed it
    assert not (tmp_path / "run.json").exists()


def test_good_files_on_both_ranks_still_run(digits_bundle, digits_test_set, tmp_path):
    bundle, _ = digits_bundle("loihi")
    files = _files(tmp_path, digits_test_set)
    ranks = _two_ranks(bundle, [files["good"], files["good"]], tmp_path / "run.json")
    assert [r.returncode for r in ranks] == [0, 0], [r.stderr[-2000:] for r in ranks]
    assert (tmp_path / "run.json").is_file()
