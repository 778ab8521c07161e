"""Data-parallel training under torchrun on the CPU (gloo, 2 processes), as a user launches it.

Tolerance for "2 × batch 32 ≡ 1 × batch 64": with --sync-bn both see the same 64 samples per step
(DistributedSampler shards one permutation), the same BatchNorm statistics and the same mean
loss; what differs is only the order of float32 additions (two partial gradient sums all-reduced
and halved instead of one sum over 64, BN sums split over ranks). That is a few ulps per step;
over 16 SGD steps the weights (of order 0.1–1) stay within 1e-5. A flipped spike would show as a
far larger difference, so the bound also says that no spike flipped.
"""

import subprocess
import sys

import pytest
import torch

from enof.trainer.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow

COMMON = ["--epochs", "2", "--teacher-epochs", "2", "--width", "8", "--train-limit", "256", "--test-limit", "100",
          "--seed", "3"]
WEIGHT_ATOL = 1e-5


def torchrun(processes: int, out, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "enof.cli.train", *COMMON, *args, "-o", str(out)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def max_weight_difference(a, b) -> float:
    sa, sb = load_checkpoint(a).state_dict, load_checkpoint(b).state_dict
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    done = {
        "two": torchrun(2, root / "two" / "model.pt", "--batch-size", "32", "--sync-bn"),
        "one": torchrun(1, root / "one" / "model.pt", "--batch-size", "64"),
    }
    for name, proc in done.items():
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
    return root, done


def test_two_processes_of_batch_32_reach_the_weights_of_one_process_of_batch_64(runs):
    root, done = runs
    for name in ("model.teacher.pt", "model.pt"):
        assert max_weight_difference(root / "two" / name, root / "one" / name) <= WEIGHT_ATOL, name
    two, one = load_checkpoint(root / "two" / "model.pt"), load_checkpoint(root / "one" / "model.pt")
    # Sharded test evaluation summed over ranks counts every one of the 100 test images once.
    assert [h["test_accuracy"] for h in two.metrics["history"]] == [h["test_accuracy"] for h in one.metrics["history"]]
    assert two.train_config["batch_size"] == 32 and two.train_config["sync_bn"] is True


def test_only_rank_0_logs_and_prints_the_result(runs):
    _, done = runs
    assert done["two"].stdout.count("model written to ") == 1
    starts = [line for line in done["two"].stderr.splitlines() if line.startswith("[snn] starting")]
    assert starts == ["[snn] starting: 2 epochs of 4 steps, batch 32 × 2 processes, cpu, float32"]


def test_interrupted_two_process_run_resumes_and_ends_where_the_uninterrupted_one_does(runs):
    root, _ = runs
    out = root / "cut" / "model.pt"
    stopped = torchrun(2, out, "--batch-size", "32", "--sync-bn", "--stop-after-epochs", "3")
    assert stopped.returncode == 0, stopped.stderr[-2000:]  # an asked-for stop is a success
    assert "stopped after snn epoch 1/2 as asked" in stopped.stderr
    assert "torchrun --nproc_per_node 2 -m enof.cli.train" in stopped.stderr and "--resume" in stopped.stderr
    assert (out.with_name("model.resume.pt")).is_file() and not out.is_file()
    refused = torchrun(1, out, "--batch-size", "32", "--sync-bn", "--resume")
    assert refused.returncode != 0  # torchrun reports a worker's exit code 1 as its own failure
    assert "made by 2 process(es), this run has 1; resume it with torchrun --nproc_per_node 2" in refused.stderr
    resumed = torchrun(2, out, "--batch-size", "32", "--sync-bn", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # Same processes, same shards, same reduction order: the resumed run is the uninterrupted one exactly.
    a, b = load_checkpoint(out).state_dict, load_checkpoint(root / "two" / "model.pt").state_dict
    for key in a:
        assert torch.equal(a[key], b[key]), key
    lines = (out.with_name("metrics.jsonl")).read_text().splitlines()
    assert len(lines) == 4  # teacher 1, 2 and snn 1 from the first invocation, snn 2 from the resumed one
