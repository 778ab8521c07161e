"""enof-run under torchrun on the CPU (gloo, 2 processes), as a user launches it: one run.json, identical to a
single process's (predictions, per-layer, per-core and per-step counts: enof-compare with tolerance 0).

Why exact: every count is an int64 total, so summing two shards' totals gives the same integers as one pass;
each sample's spikes and prediction do not depend on which other samples share its batch (the fixed-point
simulator is integer arithmetic per sample)."""

import subprocess
import sys

import numpy as np
import pytest

from enof.errors import RunError
from enof.formats.run_result import read_run_result
from enof.runtime.distributed import Shard

SAMPLES = 15  # odd: the shards differ in size (7 and 8)


def _enof_run(prefix: list[str], bundle, out, *args) -> subprocess.CompletedProcess:
    command = [*prefix, "-m", "enof.cli.run", str(bundle), "-q", "--batch-size", "4", "-o", str(out), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def test_two_torchrun_processes_write_one_run_json_identical_to_one_process(digits_bundle, digits_test_set, tmp_path):
    bundle, _ = digits_bundle("loihi")  # current mode: host_in.onnx runs on each rank too
    # An inputs file rather than --dataset: the same run_bundle path, without each rank importing sklearn (~10 s).
    np.savez(tmp_path / "mine.npz", inputs=digits_test_set[0][:SAMPLES], labels=digits_test_set[1][:SAMPLES])
    args = ["--inputs", tmp_path / "mine.npz", "--normalized"]
    sharded = _enof_run(TORCHRUN, bundle, tmp_path / "two" / "run.json", *args)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    single = _enof_run([sys.executable], bundle, tmp_path / "one" / "run.json", *args)
    assert single.returncode == 0, single.stderr[-3000:]
    assert sharded.stdout.count("accuracy") == 1  # only rank 0 prints
    assert [p.name for p in (tmp_path / "two").iterdir()] == ["run.json"]
    compare = subprocess.run([f"{sys.prefix}/bin/enof-compare", str(tmp_path / "two" / "run.json"),
                              str(tmp_path / "one" / "run.json")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert compare.returncode == 0 and "identical" in compare.stdout, compare.stdout + compare.stderr
    two, one = read_run_result(tmp_path / "two" / "run.json"), read_run_result(tmp_path / "one" / "run.json")
    assert (two.samples, two.predictions, two.labels, two.layers, two.cores) == (
        SAMPLES, one.predictions, one.labels, one.layers, one.cores)


@pytest.mark.parametrize("world, samples", [(2, 15), (3, 10), (4, 2), (1, 7)])
def test_shards_are_contiguous_cover_every_sample_once_and_differ_by_at_most_one(world, samples):
    bounds = [Shard(rank, world, launched=True).bounds(samples) for rank in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == samples
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [end - first for first, end in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_shard_outside_torchrun_is_one_process_and_bad_variables_are_one_line():
    assert Shard.from_environment({}) == Shard(0, 1, launched=False)
    assert Shard.from_environment({"RANK": "1", "WORLD_SIZE": "2"}) == Shard(1, 2, launched=True)
    with pytest.raises(RunError, match="RANK='x'"):
        Shard.from_environment({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(RunError, match="need 0 ≤ RANK < WORLD_SIZE"):
        Shard.from_environment({"RANK": "2", "WORLD_SIZE": "2"})
