"""enof-train and enof-train ablation through typer's runner and as the installed console script."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from enof.cli.train import app
from enof.trainer.checkpoint import load_checkpoint

runner = CliRunner()


def test_train_command_writes_checkpoint_and_prints_test_accuracy(tmp_path):
    out = tmp_path / "run" / "model.pt"
    result = runner.invoke(app, ["--epochs", "1", "--teacher-epochs", "1", "--width", "8", "-T", "2",
                                 "--batch-size", "32", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("test accuracy: ")]
    assert len(lines) == 1
    printed = float(lines[0].removeprefix("test accuracy: ").removesuffix("%"))
    ckpt = load_checkpoint(out)
    # The printed number is the checkpoint's metric, rounded to 0.1 %.
    assert abs(printed - 100 * ckpt.metrics["test_accuracy"]) <= 0.05
    assert ckpt.arch_kwargs["width"] == 8 and ckpt.timesteps == 2
    assert ckpt.train_config["threads"] == 1 and torch.get_num_threads() == 1  # digits: one thread
    assert (tmp_path / "run" / "model.teacher.pt").exists()


def test_missing_data_root_is_one_line_exit_1(tmp_path):
    result = runner.invoke(app, ["--dataset", "cifar10", "--arch", "resnet20", "--data-root", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "error: cifar10: expected <root>/cifar-10-batches-py/data_batch_1..5 and test_batch" in result.output


def test_bad_checkpoint_as_teacher_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "teacher.pt"
    bad.write_bytes(b"\x80\x04junk")
    result = runner.invoke(app, ["--teacher", str(bad), "--epochs", "1", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 1
    assert "teacher.pt: not a readable enof checkpoint" in result.output


def test_kd_flag_alone_trains_vanilla_kd_without_laf(tmp_path):
    out = tmp_path / "kd.pt"
    result = runner.invoke(app, ["--kd", "--epochs", "1", "--teacher-epochs", "1", "--width", "4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    config = load_checkpoint(out).train_config
    assert (config["kd"], config["laf"], config["repact"]) == (True, False, True)
    both = runner.invoke(app, ["--kd", "--laf", "-o", str(tmp_path / "x.pt")])
    assert both.exit_code == 1 and "--laf and --kd are alternatives" in both.output


def test_ablation_subcommand_writes_markdown_and_json_with_every_variant(tmp_path):
    out = tmp_path / "abl.md"
    result = runner.invoke(app, ["ablation", "--seeds", "1", "--timesteps", "1", "--epochs", "1",
                                 "--teacher-epochs", "1", "--width", "4", "--batch-size", "64", "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.with_suffix(".json").read_text())
    assert [r["variant"] for r in data["runs"]] == ["baseline", "+L_AF", "+RepAct", "+L_AF +RepAct (EnOF)", "vanilla KD"]
    # One seed: each cell is that run's accuracy with std 0.
    for run in data["runs"]:
        cell = data["summary_percent"][run["variant"]]["1"]
        assert cell["n"] == 1 and cell["std"] == 0 and abs(cell["mean"] - 100 * run["test_accuracy"]) < 1e-9
    markdown = out.read_text()
    assert "| +L_AF +RepAct (EnOF) |" in markdown and "`enof-train ablation --dataset digits --arch digits_cnn --width 4 --seeds 1" in markdown


def test_console_script_help_lists_flags_and_the_ablation_subcommand():
    script = Path(sys.executable).with_name("enof-train")
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, env={"COLUMNS": "200"})
    assert shown.returncode == 0
    for flag in ("--dataset", "--timesteps", "--laf", "--no-repact", "--kd", "--teacher", "--resume", "--output", "ablation"):
        assert flag in shown.stdout, flag
    sub = subprocess.run([str(script), "ablation", "--help"], capture_output=True, text=True, env={"COLUMNS": "200"})
    assert sub.returncode == 0 and "--seeds" in sub.stdout


@pytest.mark.parametrize("flags,message", [
    (["--amp", "fp16", "--device", "cpu"], "error: --amp fp16: float16 autocast needs CUDA; on CPU use --amp bf16 or --amp off"),
    (["--lr", "nan"], "error: --lr nan: must be a finite number"),
    (["--lam", "nan"], "error: --lam nan: must be a finite number"),
    (["--lr", "-1"], "error: --lr -1.0: must be > 0"),
    (["--recipe", "paper"], "error: --recipe paper: the EnOF group's recipe is for cifar10, cifar100; digits has --recipe quick"),
    (["--train-limit", "5"], "error: --train-limit 5: a stratified subset needs at least one sample of each of the 10 classes"),
    (["--arch", "resnet20"], "error: --arch resnet20 does not fit the 1×8×8 input of digits ("),
    (["--tau", "0"], "error: --tau 0.0: must be > 0"),
    (["--frame-size", "48"], "error: --frame-size: digits is a data set of 8×8 images; a frame size applies to event data sets only"),
    (["--frame-size", "4x"], "error: --frame-size 4x: expected N (square frames) or HxW, for example 48 or 34x34"),
    (["--init", "ann"], "error: --init ann: choose one of random, teacher"),
] + ([] if torch.cuda.is_available() else [
    (["--device", "cuda"], "error: --device cuda: torch sees no CUDA GPU here"),
]))
def test_bad_flags_are_one_line_exit_1_before_any_training(tmp_path, flags, message):
    out = tmp_path / "run" / "model.pt"
    result = runner.invoke(app, [*flags, "--epochs", "1", "--teacher-epochs", "1", "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().count("\n") == 0 and result.output.startswith(message), result.output
    assert not (tmp_path / "run").exists()  # nothing trained, nothing written


def test_output_path_that_is_a_folder_is_refused_before_training(tmp_path):
    result = runner.invoke(app, ["--epochs", "1", "--teacher-epochs", "1", "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: -o {tmp_path}: is a folder; give a file's path, e.g. {tmp_path / 'model.pt'}"
    assert list(tmp_path.iterdir()) == []


def test_batch_job_log_gets_plain_lines_and_sigterm_keeps_the_last_epoch_exit_143(tmp_path):
    """As under Slurm: stderr to a pipe (no terminal), then SIGTERM before the run ends."""
    import signal

    script = Path(sys.executable).with_name("enof-train")
    out = tmp_path / "model.pt"
    args = [str(script), "--epochs", "3", "--teacher-epochs", "3", "--width", "4", "--train-limit", "256",
            "--test-limit", "60", "--batch-size", "32", "--log-every", "2", "-o", str(out)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stderr:  # blocks on the child's output, no sleeping
        lines.append(line.rstrip("\n"))
        if line.startswith("[teacher] epoch 1/3 done"):
            proc.send_signal(signal.SIGTERM)
            break
    _, rest = proc.communicate(timeout=120)
    lines += rest.splitlines()
    assert proc.returncode == 143
    assert lines[0] == "[teacher] starting: 3 epochs of 8 steps, batch 32, cpu, float32"
    assert any(line.startswith("[teacher] epoch 1/3 step 2/8 loss ") and " img/s ETA " in line for line in lines)
    log = Path(tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(log) in (1, 2, 3) and json.loads(log[0])["phase"] == "teacher"
    assert (tmp_path / "model.resume.pt").is_file() and not out.exists()
    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "[teacher] resuming at epoch" in resumed.stderr or "[snn] resuming at epoch" in resumed.stderr
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["epoch"]) for r in records] == [("teacher", e) for e in (1, 2, 3)] + [("snn", e) for e in (1, 2, 3)]


def test_output_in_a_read_only_folder_is_refused_before_training(refuses_read_only_output):
    refuses_read_only_output("enof-train", "--epochs", "1", "--teacher-epochs", "1", name="model.pt")


def test_json_prints_the_final_metrics_and_paths_as_one_object_on_stdout(tmp_path):
    out = tmp_path / "run" / "model.pt"
    result = runner.invoke(app, ["--epochs", "1", "--teacher-epochs", "1", "--width", "4", "--train-limit", "200",
                                 "--test-limit", "60", "--batch-size", "32", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # the whole of stdout; progress went to stderr
    ckpt = load_checkpoint(out)
    assert summary["finished"] is True and summary["model"] == str(out)
    assert summary["teacher"] == str(tmp_path / "run" / "model.teacher.pt")
    assert summary["metrics_log"] == str(tmp_path / "run" / "metrics.jsonl") and Path(summary["metrics_log"]).is_file()
    assert summary["test_accuracy"] == ckpt.metrics["test_accuracy"]
    assert summary["teacher_test_accuracy"] == ckpt.metrics["teacher_test_accuracy"]
    assert summary["train_accuracy"] == ckpt.metrics["history"][-1]["train_accuracy"]
    assert (summary["epochs"], summary["teacher_epochs"], summary["timesteps"]) == (1, 1, 2)
    assert (summary["dataset"], summary["arch"]) == ("digits", "digits_cnn") and summary["wall_s"] > 0


def test_help_shows_the_defaults_that_depend_on_other_flags():
    shown = subprocess.run([str(Path(sys.executable).with_name("enof-train")), "--help"], capture_output=True, text=True,
                           env={"COLUMNS": "300"})
    assert shown.returncode == 0
    # off a terminal --help is click's plain text: an option's help and its [default: ...] may wrap onto the
    # lines below it, so each option's entry runs until the next line that starts an option
    entries, current = {}, None
    for line in shown.stdout.splitlines():
        if line.lstrip().startswith("-"):
            current = line.split()[0]
            entries[current] = line
        elif current is not None:
            entries[current] += " " + line.strip()
    assert "[default: (on, off with --kd)]" in entries["--laf"]
    assert "[default: (on CUDA only)]" in entries["--channels-last"]


def test_json_of_a_run_stopped_by_stop_after_epochs_says_it_is_unfinished_and_how_to_resume(tmp_path):
    out = tmp_path / "model.pt"
    result = runner.invoke(app, ["--epochs", "1", "--teacher-epochs", "2", "--width", "4", "--train-limit", "200",
                                 "--test-limit", "60", "-o", str(out), "--stop-after-epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["finished"] is False and summary["stopped_after"] == {"phase": "teacher", "epoch": 1, "epochs": 2}
    assert summary["resume"].startswith("enof-train ") and summary["resume"].endswith(" --resume")
    assert not out.exists() and (tmp_path / "model.resume.pt").is_file()
