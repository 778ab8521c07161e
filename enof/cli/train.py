"""enof-train: the ANN teacher, then the EnOF SNN → model.pt; `enof-train ablation` for the table."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from enof.cli.options import DEVICE_HELP, PLUGIN_HELP, frame_size_option
from enof.trainer.ranges import seed_in_range, timesteps_in_range
from enof.cli.console import command_app, make_console
from enof.cli.output import exit_codes_epilog, fail, print_json
from enof.errors import EnofError

HELP = """Train an EnOF spiking network: first the ANN teacher of the same architecture (CE), then the
SNN with CE + λ·L_AF (the SNN's time-averaged feature through the teacher's frozen classifier),
with RepAct (last LIF → ReLU) by default. Writes model.pt (and <stem>.teacher.pt beside it).

Defaults per data set (epochs, lr, batch size, optimizer) apply where a flag is not given
(--recipe quick); --recipe paper is the EnOF group's 400-epoch CIFAR recipe.
`enof-train --dataset digits --arch digits_cnn -T 2` reaches ≥ 97% in about a minute on 2 cores.

Runs on a GPU when torch sees one (--device), in bf16 mixed precision there (--amp). Several GPUs
or machines: `torchrun --nproc_per_node N -m enof.cli.train ...` (DDP; --batch-size is per process).
Beside model.pt: metrics.jsonl (one line per epoch). When stderr is not a terminal, progress is
printed as plain lines. Ctrl-C or SIGTERM keeps the last finished epoch: rerun with --resume.

Subcommands: `enof-train ablation --help` (baseline / +L_AF / +RepAct / both / vanilla KD);
`enof-train finetune --help` (quantization-aware fine-tuning for a target chip)."""

# Interrupted runs end with 130 (Ctrl-C) or 143 (SIGTERM), the shell's 128 + signal number.
EPILOG = exit_codes_epilog("trained, or stopped as asked by --stop-after-epochs") + " Ctrl-C: 130; SIGTERM: 143."

app = command_app(help=HELP)


def _command_line(prog: str, ctx: typer.Context) -> str:
    """The command that reproduces these parameters, in declaration order (recorded with the results)."""
    parts: list[str] = []
    for param in ctx.command.params:
        name, value = param.name, ctx.params.get(param.name)
        if value is not None:
            parts += [f"--{name.replace('_', '-')}", str(value)]
    return f"{prog} {shlex.join(parts)}"


def _use_threads(config) -> None:
    """Apply the run's torch thread count (digits: 1; 0 keeps torch's default)."""
    # lazy: torch and the trainer load when a command runs; --help and option errors answer without them
    import torch

    threads = config.resolved().threads
    if threads:
        torch.set_num_threads(threads)


def _arch_kwargs(width: Optional[int]) -> dict:
    return {} if width is None else {"width": width}


def _frame_size(text: Optional[str]) -> Optional[list[int]]:
    try:
        return frame_size_option(text)
    except EnofError as exc:
        fail(exc)


def _resume_command(dist) -> str:
    """The command line that continues this run: the same arguments plus --resume."""
    args = sys.argv[1:] + ([] if "--resume" in sys.argv else ["--resume"])
    if dist.launched:
        return f"torchrun --nproc_per_node {dist.world_size} -m enof.cli.train {shlex.join(args)}"
    return f"enof-train {shlex.join(args)}"


class _Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm and Kubernetes send before they stop a job), handled like Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


@app.callback(invoke_without_command=True, epilog=EPILOG)
def train_command(
    ctx: typer.Context,
    dataset: str = typer.Option("digits", "--dataset", help="digits, mnist5k, mnist, cifar10, cifar100, cifar10dvs, nmnist or dvsgesture (enof.datasets)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder holding the data set (not for digits)"),
    arch: str = typer.Option("digits_cnn", "--arch", help="digits_cnn, mnist_cnn, resnet20, resnet19 or resnet20_dvs"),
    width: Optional[int] = typer.Option(None, "--width", min=1, help="channel width of digits_cnn (default 32) or mnist_cnn (default 16)"),
    timesteps: int = typer.Option(2, "--timesteps", "-T", min=1, help="SNN timesteps T"),
    recipe: str = typer.Option("quick", "--recipe", help="quick (the data set's affordable defaults) or paper "
                               "(the EnOF group's CIFAR recipe: 400 epochs, SGD 0.1, wd 1e-4, cosine, batch 128, "
                               "crop + flip + AutoAugment + Cutout, λ 0.1, τ 20); flags override it"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="SNN epochs (digits: 30)"),
    teacher_epochs: Optional[int] = typer.Option(None, "--teacher-epochs", min=0, help="ANN teacher epochs (digits: 15)"),
    lr: Optional[float] = typer.Option(None, "--lr", help="initial learning rate (digits 0.05, CIFAR 0.1)"),
    schedule: str = typer.Option("cosine", "--schedule", help="cosine, step (×0.1 at 50%, 75%) or none"),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="sgd (momentum 0.9, the default) or adam"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="on conv/linear weights only"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="per process (digits 64, CIFAR 128); under torchrun the global "
                                                  "batch is the number of processes × this"),
    seed: int = typer.Option(0, "--seed", help="seeds weights, data order and augmentation"),
    laf: Optional[bool] = typer.Option(None, "--laf/--no-laf", show_default="on, off with --kd",
                                       help="add λ·L_AF, EnOF's output-feature alignment"),
    repact: bool = typer.Option(True, "--repact/--no-repact", help="RepAct: the last LIF becomes a ReLU"),
    kd: bool = typer.Option(False, "--kd", help="vanilla KD on the SNN's logits instead of L_AF"),
    lam: float = typer.Option(0.1, "--lam", help="weight λ of L_AF / KD"),
    tau: Optional[float] = typer.Option(None, "--tau", help="temperature (default 20 for L_AF, 3 for KD)"),
    teacher: Optional[Path] = typer.Option(None, "--teacher", help="use this trained teacher .pt instead of training one"),
    init: Optional[str] = typer.Option(None, "--init", help="where the SNN's weights start: random or teacher (the "
                                       "trained teacher's weights, then trained as an SNN); default random, "
                                       "mnist5k's recipe teacher"),
    frame_size: Optional[str] = typer.Option(None, "--frame-size", help="event data sets: bin the recordings into "
                                             "frames of N×N or HxW (the architecture's input size; default the "
                                             "data set's own: cifar10dvs 48, nmnist 34, dvsgesture 32)"),
    train_limit: Optional[int] = typer.Option(None, "--train-limit", help="train on a fixed, seeded, stratified subset of N images"),
    test_limit: Optional[int] = typer.Option(None, "--test-limit", help="evaluate on a fixed, seeded, stratified subset of N images"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted run from its last finished epoch"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="model.pt path (default runs/<dataset>-<arch>-T<T>/model.pt)"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP + "; "
                               "under torchrun cuda means each process's local-rank GPU"),
    amp: str = typer.Option("auto", "--amp", help="mixed precision: bf16, fp16 (CUDA, with a GradScaler) or off; "
                            "auto: bf16 on CUDA, off on CPU"),
    channels_last: Optional[bool] = typer.Option(None, "--channels-last/--no-channels-last",
                                                 show_default="on CUDA only", help="NHWC memory layout"),
    compile: bool = typer.Option(False, "--compile", help="torch.compile the networks (off until "
                                 "benchmarks/train_step.py shows it pays on your device)"),
    deterministic: bool = typer.Option(False, "--deterministic", help="no cuDNN autotuning (repeatable CUDA runs, slower)"),
    workers: Optional[int] = typer.Option(None, "--workers", min=0, help="DataLoader worker processes per process, "
                                          "augmentation runs in them (digits 0, else up to 8)"),
    sync_bn: bool = typer.Option(False, "--sync-bn", help="under torchrun: BatchNorm statistics over the global batch"),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help="torch CPU threads (digits 1; 0: all cores)"),
    log_every: int = typer.Option(50, "--log-every", min=1, help="when stderr is not a terminal: a progress line "
                                  "every N steps (and at least every 30 s)"),
    stop_after_epochs: Optional[int] = typer.Option(None, "--stop-after-epochs", min=1,
                                                    help="end after N finished epochs of this invocation, resumable "
                                                         "with --resume (exit code 0): for batch jobs with a time limit"),
    json_output: bool = typer.Option(False, "--json", help="print the run's final metrics and paths as one JSON "
                                     "object on stdout (progress stays on stderr)"),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Train the teacher and the EnOF SNN; prints the final test accuracy."""
    if ctx.invoked_subcommand is not None:
        return
    # lazy: torch and the trainer load when a command runs; --help and option errors answer without them
    from enof.trainer.distributed import Distributed
    from enof.trainer.loop import StopRequested, TrainConfig, TrainProgress, train

    out = output or Path("runs") / f"{dataset}-{arch}-T{timesteps}" / "model.pt"
    config = TrainConfig(
        dataset=dataset, data_root=None if data_root is None else str(data_root), arch=arch,
        arch_kwargs=_arch_kwargs(width), timesteps=timesteps, epochs=epochs, teacher_epochs=teacher_epochs,
        lr=lr, schedule=schedule, optimizer=optimizer, weight_decay=weight_decay, batch_size=batch_size,
        seed=seed, laf=(not kd) if laf is None else laf, repact=repact, kd=kd, lam=lam, tau=tau, out=str(out), resume=resume,
        teacher=None if teacher is None else str(teacher), init=init, frame_size=_frame_size(frame_size),
        threads=threads, recipe=recipe, train_limit=train_limit,
        test_limit=test_limit, sync_bn=sync_bn, device=device, amp=amp, channels_last=channels_last, compile=compile,
        deterministic=deterministic, workers=workers, log_every=log_every, stop_after_epochs=stop_after_epochs,
    )
    console = make_console(stderr=True)
    previous_handler = signal.signal(signal.SIGTERM, _raise_terminated)
    dist = None
    try:
        # lazy: torch and the trainer load when a command runs; --help and option errors answer without them
        from enof.trainer.models import load_plugins

        seed_in_range(seed, "--seed")
        timesteps_in_range((timesteps,), "--timesteps")
        load_plugins(plugin)
        dist = Distributed.from_environment()
        _use_threads(config)
        progress = TrainProgress(enabled=True, console=console, log_every=log_every)
        result = train(config, progress=progress, dist=dist)
    except EnofError as exc:
        fail(exc)
    except StopRequested as stop:
        if dist.is_main:
            resume_command = _resume_command(dist)
            typer.echo(f"{stop}; continue with: {resume_command}", err=True)
            if json_output:
                print_json({"finished": False, "resume": resume_command,
                            "stopped_after": {"phase": stop.phase, "epoch": stop.epoch, "epochs": stop.epochs}})
        return
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, _Terminated)
        if dist is None or dist.is_main:
            what = "terminated (SIGTERM)" if terminated else "interrupted"
            typer.echo(f"{what}; the last finished epoch is kept: continue with {_resume_command(dist or Distributed())}",
                       err=True)
        raise typer.Exit(143 if terminated else 130) from None
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        if dist is not None:
            dist.stop()
    if not dist.is_main:
        return
    if json_output:
        print_json(train_dict(result, config))
        return
    if result.teacher_test_accuracy is not None:
        typer.echo(f"teacher (ANN) test accuracy: {100 * result.teacher_test_accuracy:.1f}%")
    typer.echo(f"test accuracy: {100 * result.test_accuracy:.1f}%")
    typer.echo(f"model written to {result.model_path}")


def train_dict(result, config) -> dict:
    """The --json object of a finished run: accuracies (fractions), epochs, wall time and the files written."""
    ckpt = result.checkpoint
    last_epoch = ckpt.metrics["history"][-1]  # --epochs is at least 1
    return {
        "finished": True, "model": str(result.model_path),
        "teacher": None if result.teacher_path is None else str(result.teacher_path),
        "metrics_log": str(config.metrics_path), "dataset": config.dataset, "arch": ckpt.arch,
        "timesteps": ckpt.timesteps, "test_accuracy": result.test_accuracy,
        "teacher_test_accuracy": result.teacher_test_accuracy, "train_accuracy": last_epoch["train_accuracy"],
        "loss": last_epoch["loss"], "epochs": ckpt.train_config.get("epochs"),
        "teacher_epochs": ckpt.train_config.get("teacher_epochs"), "wall_s": ckpt.metrics.get("wall_s"),
    }  # fmt: skip


@app.command("ablation", epilog=exit_codes_epilog())
def ablation_command(
    ctx: typer.Context,
    dataset: str = typer.Option("digits", "--dataset", help="data set of every run"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder holding the data set (not for digits)"),
    arch: str = typer.Option("digits_cnn", "--arch", help="architecture of every run"),
    width: Optional[int] = typer.Option(None, "--width", min=1, help="channel width of digits_cnn (default 32) or mnist_cnn (default 16)"),
    seeds: int = typer.Option(5, "--seeds", min=1, help="seeds 0..N-1; one teacher per seed"),
    timesteps: str = typer.Option("1,2,4", "--timesteps", "-T", help="comma-separated list of T"),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="SNN epochs per run (data set default)"),
    teacher_epochs: Optional[int] = typer.Option(None, "--teacher-epochs", min=0, help="teacher epochs per seed"),
    lr: Optional[float] = typer.Option(None, "--lr", help="initial learning rate"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="batch size"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="writes <output>.md and <output>.json "
                                          "(default runs/ablation-<dataset>.md)"),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help="torch CPU threads (digits 1; 0: all cores)"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Baseline, +L_AF, +RepAct, both, and vanilla KD per T and seed → markdown + JSON, mean ± std."""
    # lazy: torch and the trainer load when a command runs; --help and option errors answer without them
    from enof.trainer.ablation import AblationConfig, run_ablation, write_ablation
    from enof.trainer.loop import TrainConfig, TrainProgress

    from enof.cli.sweep import int_list
    from enof.trainer.models import load_plugins

    output = output if output is not None else Path("runs") / f"ablation-{dataset}.md"
    base = TrainConfig(dataset=dataset, data_root=None if data_root is None else str(data_root), arch=arch,
                       arch_kwargs=_arch_kwargs(width), epochs=epochs, teacher_epochs=teacher_epochs, lr=lr,
                       batch_size=batch_size, threads=threads, device=device)
    console = make_console(stderr=True)
    try:
        steps = int_list(timesteps, "--timesteps")
        timesteps_in_range(steps, "--timesteps")
        load_plugins(plugin)
        _use_threads(base)
        result = run_ablation(AblationConfig(base=base, seeds=seeds, timesteps=steps, output=str(output)),
                              progress=TrainProgress(enabled=console.is_terminal, console=console),
                              log=lambda line: console.print(line))
        command = _command_line("enof-train ablation", ctx)
        md_path, json_path = write_ablation(result, output, command)
    except EnofError as exc:
        fail(exc)
    typer.echo(Path(md_path).read_text())
    typer.echo(f"written: {md_path}, {json_path}")


@app.command("finetune", epilog=exit_codes_epilog("fine-tuned"))
def finetune_command(
    model: Path = typer.Argument(..., help="the trained model.pt (an SNN checkpoint)"),
    target: str = typer.Option(..., "--target", help="loihi, loihi2 or a hardware profile TOML"),
    epochs: int = typer.Option(3, "--epochs", min=1, help="fine-tuning epochs"),
    lr: float = typer.Option(0.002, "--lr", help="SGD learning rate (momentum 0.9, cosine to 0)"),
    seed: int = typer.Option(0, "--seed", help="seeds the data order"),
    calibrate: int = typer.Option(32, "--calibrate", min=1, help="calibration samples for the scales: the "
                                  "same N as enof-export --calibrate (default 32 for both)"),
    train_limit: Optional[int] = typer.Option(None, "--train-limit", min=1, help="fine-tune on a fixed, seeded, stratified subset of N images"),
    weight_bits: Optional[int] = typer.Option(None, "--weight-bits", help="synapse weight bits (default: the profile's; "
                                              "Loihi 2..8): export with the same --weight-bits"),
    no_laf: bool = typer.Option(False, "--no-laf", help="CE only (default: keep the checkpoint's λ·L_AF with its teacher)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="folder holding the data set (not for digits)"),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="default <model>-<target>-ft.pt beside MODEL"),
    threads: int = typer.Option(1, "--threads", min=0, help="torch CPU threads (0: all cores)"),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP + " (float32; the checkpoint is saved on the CPU)"),
    json_output: bool = typer.Option(False, "--json", help="print the accuracies and the output path as one JSON object"),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Fine-tune MODEL with the exporter's fixed-point integers for TARGET in the forward pass
    (straight-through gradients); enof-export of the result reproduces those integers exactly."""
    # lazy: torch and the trainer load when a command runs; --help and option errors answer without them
    import torch

    from enof.exporter.finetune_target import ExportQuantizer
    from enof.trainer.finetune import FinetuneConfig, finetune

    if threads:
        torch.set_num_threads(threads)
    config = FinetuneConfig(checkpoint=str(model), target=target, epochs=epochs, lr=lr, seed=seed, calibrate=calibrate,
                            data_root=None if data_root is None else str(data_root),
                            out=None if output is None else str(output), laf=not no_laf, train_limit=train_limit,
                            weight_bits=weight_bits, device=device)
    try:
        # lazy: torch and the trainer load when a command runs; --help and option errors answer without them
        from enof.trainer.models import load_plugins

        seed_in_range(seed, "--seed")
        load_plugins(plugin)
        result = finetune(config, ExportQuantizer, log=None if json_output else lambda line: typer.echo(line, err=True))
    except EnofError as exc:
        fail(exc)
    if json_output:
        print_json({"model": str(result.model_path), "target": result.checkpoint.finetuned_for["target"],
                    "float_accuracy_before": result.float_accuracy_before, "float_accuracy": result.float_accuracy,
                    "fixed_point_forward_accuracy_before": result.quantized_accuracy_before,
                    "fixed_point_forward_accuracy": result.quantized_accuracy, "history": result.history})
        return
    typer.echo(f"float test accuracy: {100 * result.float_accuracy_before:.2f}% -> {100 * result.float_accuracy:.2f}%")
    typer.echo(f"fixed-point forward test accuracy: {100 * result.quantized_accuracy_before:.2f}% -> "
               f"{100 * result.quantized_accuracy:.2f}%")
    typer.echo(f"model written to {result.model_path}")


def main() -> None:
    app(prog_name="enof-train")


if __name__ == "__main__":
    sys.exit(main())
