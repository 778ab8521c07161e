"""Images/s of one training step: plain SNN, EnOF (teacher forward + L_AF), and the same SNN in SpikingJelly.

Usage: .venv/bin/python benchmarks/train_step.py [--device cpu cuda] [--amp off bf16 fp16] [--arch resnet20]
           [-T 2 4] [--batch N] [--steps 20] [--threads 1] [--predict] [--markdown docs/train-step-benchmark.md]

A step is the trainer's (enof/trainer/execution.py): the batch to the device, forward and loss under the
run's autocast, backward and SGD update through its GradScaler. Variants of one case are timed one step
each in turn, so that load from other processes hits all of them alike; the table gives medians and the
load average. `plain`: the SNN with CE. `EnOF`: the SNN with RepAct and CE + λ·L_AF, which adds the frozen
ANN teacher's forward (T = 1, no gradient). `SJ torch`: the plain SNN, same weights, each enof LIF replaced
by SpikingJelly's multi-step LIFNode (tau = 1/(1 − decay) with decay_input=False, same threshold, hard
reset to 0) firing strictly at v > θ as enof does (its surrogate is enof's rect window, which puts the node
on SpikingJelly's torch autograd path: the spikes equal enof's, checked at start). On CUDA also `SJ op:…`:
SpikingJelly's registered LIF operators (hand-written torch, triton, native cuda where built) with its
ATan surrogate; they fire at v ≥ θ (enof's spikes but where v == θ). `--predict`: also the ANN teacher's
step, and the wall time it implies for a CIFAR-10 recipe. SpikingJelly is the optional `bench` extra
(`pip install --no-deps spikingjelly==2.0.0 loguru`); without it the SJ columns are skipped.
Targets (issue 8): EnOF ≤ 1.3× plain; enof ≥ SJ torch on the same device; on one H200 an EnOF epoch of
CIFAR-10 ResNet20 T = 4 in ≤ 30 s.
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from enof.trainer.execution import Execution, full_precision, optimizer_step, resolve_execution
from enof.trainer.losses import DistillConfig, enof_loss
from enof.trainer.models import ARCHITECTURES, build_model, repeat_over_time
from enof.trainer.neurons import LIF, NeuronConfig, lif_unroll, spike_fn

AMP_BY_DEVICE = {"cpu": ("off", "bf16"), "cuda": ("off", "bf16", "fp16")}
# Without --amp, ResNets on CPU run float32 only: CPUs without AVX512-BF16/AMX emulate bf16 (digits_cnn
# steps 8× slower on this project's AMD EPYC), which would take a ResNet row many minutes.
CPU_DEFAULT_AMP = {"digits_cnn": ("off", "bf16"), "resnet20": ("off",), "resnet19": ("off",)}
BATCH = {"cpu": {"digits_cnn": 16, "resnet20": 16, "resnet19": 4}, "cuda": {}}  # cuda: 128 for every arch
CPU_STEP_SHARE = {"digits_cnn": 1, "resnet20": 4, "resnet19": 8}  # CPU: steps // share timed steps
WARMUP = {"cpu": 1, "cuda": 3}  # allocations, cuDNN autotuning, triton compilation
SJ_CUDA_OPS = ("torch", "triton", "cuda")  # SpikingJelly 2.0's registered LIF implementations on CUDA
CIFAR10_TRAIN_IMAGES = 50_000
TARGET_EPOCH_S = 30.0  # issue 8: an EnOF epoch of CIFAR-10 ResNet20 T = 4 on one H200
Step = Callable[[], None]


@dataclass(frozen=True)
class Case:
    arch: str
    batch: int
    timesteps: int
    steps: int
    execution: Execution

    @property
    def shape(self) -> tuple[int, int, int]:
        return ARCHITECTURES[self.arch].input_shape


class SjLIF(nn.Module):
    """An enof LIF as SpikingJelly's multi-step LIFNode: (T·B, ...) → (T, B, ...) → node → (T·B, ...).

    Its input is made float32 as enof's LIF makes it, so both keep a float32 membrane under autocast."""

    def __init__(self, timesteps: int, neuron: NeuronConfig, surrogate_function: Callable) -> None:
        super().__init__()
        from spikingjelly.activation_based.neuron import LIFNode

        self.timesteps = timesteps
        # decay_input=False, v_reset=0: H = V − V/τ + X, so τ = 1/(1 − decay) decays V by `decay`.
        self.node = LIFNode(tau=1.0 / (1.0 - neuron.decay), decay_input=False, v_threshold=neuron.v_threshold,
                            v_reset=0.0, detach_reset=False, surrogate_function=surrogate_function,
                            step_mode="m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unfolded = full_precision(x).reshape(self.timesteps, x.shape[0] // self.timesteps, *x.shape[1:])
        return self.node(unfolded).reshape(x.shape)


def strict_surrogate(neuron: NeuronConfig) -> Callable:
    """enof's spike function (strict v > θ, its surrogate window) as a SpikingJelly surrogate."""
    return functools.partial(spike_fn, surrogate=neuron.surrogate, alpha=neuron.surrogate_alpha)


def sj_twin(model: nn.Module, surrogate_function: Callable | None) -> nn.Module:
    """A copy of `model` (same weights) with every enof LIF replaced by an `SjLIF`;
    `surrogate_function=None`: SpikingJelly's built-in ATan (fires at v ≥ θ)."""
    from spikingjelly.activation_based import surrogate

    twin = copy.deepcopy(model)
    for name, module in list(twin.named_modules()):
        if isinstance(module, LIF):
            parent, _, child = name.rpartition(".")
            function = surrogate_function or surrogate.ATan()
            setattr(twin.get_submodule(parent), child, SjLIF(module.timesteps, module.neuron, function))
    return twin


def check_sj_matches_enof() -> str:
    """Assert that the strict SJ twin is enof's LIF (spikes, input gradients, whole-net logits) and
    that stock SpikingJelly fires at v == θ where enof does not; return what was checked."""
    from spikingjelly.activation_based import functional

    neuron = NeuronConfig()
    torch.manual_seed(0)
    currents = (torch.rand(4, 256, 64) * 1.2 - 0.2).requires_grad_(True)
    enof_spikes, _ = lif_unroll(currents, neuron)
    twin = SjLIF(4, neuron, strict_surrogate(neuron))
    sj_spikes = twin(currents.reshape(-1, 64)).reshape(currents.shape)
    weights = torch.randn_like(currents)
    (enof_grad,) = torch.autograd.grad((enof_spikes * weights).sum(), currents)
    (sj_grad,) = torch.autograd.grad((sj_spikes * weights).sum(), currents)
    assert torch.equal(enof_spikes, sj_spikes), "SJ twin spikes differ from enof's LIF"
    # float rounding: SJ computes V − V/τ, enof (Norse's LIFBox) V + (1 − decay)·(−V + I/(1 − decay))
    assert torch.allclose(enof_grad, sj_grad, atol=1e-5), "SJ twin input gradients differ from enof's LIF"
    at_threshold = torch.full((1, 1), neuron.v_threshold)
    stock = sj_twin(nn.Sequential(LIF(1, neuron)), None)
    assert float(LIF(1, neuron)(at_threshold)) == 0.0 and float(stock(at_threshold)) == 1.0
    net = build_model("digits_cnn", mode="snn", timesteps=4, in_channels=1).eval()
    x = repeat_over_time(torch.rand(32, 1, 8, 8), 4)
    with torch.no_grad():
        twin_net = sj_twin(net, strict_surrogate(neuron))
        functional.reset_net(twin_net)
        max_diff = float((net(x).logits - twin_net(x).logits).abs().max())
    assert max_diff < 1e-4, f"digits_cnn and its SJ twin: logits differ by {max_diff}"
    return (f"SJ twin checked at start: spikes equal to enof's LIF on {enof_spikes.numel()} neuron-steps, "
            f"input gradients within 1e-5, digits_cnn logits within {max_diff:.1e}; at v = θ stock "
            "SpikingJelly fires and enof does not.")


def sj_cuda_implementations(device: torch.device) -> tuple[dict[str, Step], dict[str, str]]:
    """SpikingJelly's LIF implementations that select on this GPU, each as a call that makes it the one
    its operators run, and why the others do not. SpikingJelly 2.0 picks one per process (env
    SJ_LIF_CUDA_IMPLEMENTATION) with no public switch, so this reaches into its private selection."""
    from spikingjelly._ops.lif import _selection

    index = device.index if device.index is not None else torch.cuda.current_device()
    found, missing, requested = {}, {}, _selection._requested
    try:
        for name in SJ_CUDA_OPS:
            _selection._requested = name
            try:
                selected = _selection._select(index)
            except (ImportError, OSError, RuntimeError) as error:
                missing[name] = str(error).splitlines()[0][:160]
                continue
            found[name] = functools.partial(_selection._selections.__setitem__, index, selected)
    finally:
        _selection._requested = requested
    return found, missing


def make_step(model: nn.Module, case: Case, loss_of: Callable, before: Step | None = None) -> Step:
    """One training step of `model` on a fixed random batch, as the trainer runs it."""
    ex = case.execution
    model = ex.prepare_model(model).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = ex.grad_scaler()
    x_host = torch.rand(case.batch, *case.shape)
    y_host = torch.randint(0, 10, (case.batch,))
    if ex.is_cuda:
        x_host, y_host = x_host.pin_memory(), y_host.pin_memory()

    def step() -> None:
        if before is not None:
            before()
        x, y = ex.batch(x_host), ex.batch(y_host)
        optimizer.zero_grad(set_to_none=True)
        with ex.autocast():
            loss = loss_of(model, x, y)
        optimizer_step(loss, optimizer, scaler)

    return step


def case_steps(case: Case, with_sj: bool, predict: bool) -> tuple[dict[str, Step], dict[str, str]]:
    """The case's variants (name → step) and those that could not be built (name → why)."""
    c, t = case.shape[0], case.timesteps
    torch.manual_seed(0)
    plain = build_model(case.arch, mode="snn", repact=False, timesteps=t, in_channels=c)
    student = build_model(case.arch, mode="snn", repact=True, timesteps=t, in_channels=c)
    teacher = case.execution.prepare_model(
        build_model(case.arch, mode="ann", timesteps=1, in_channels=c).eval().requires_grad_(False))
    none, laf = DistillConfig(method="none"), DistillConfig(method="laf")

    def ce(net, x, y):
        return enof_loss(net(repeat_over_time(x, t)), y, config=none).total

    def enof(net, x, y):
        with torch.no_grad():
            teacher_out = teacher(repeat_over_time(x, 1))
        return enof_loss(net(repeat_over_time(x, t)), y, teacher_out, teacher.fc, laf).total

    steps = {"plain": make_step(plain, case, ce), "EnOF": make_step(student, case, enof)}
    skipped: dict[str, str] = {}
    if predict:
        ann = build_model(case.arch, mode="ann", timesteps=1, in_channels=c)
        steps["teacher"] = make_step(ann, case, lambda net, x, y: enof_loss(
            net(repeat_over_time(x, 1)), y, config=none).total)
    if not with_sj:
        return steps, skipped
    from spikingjelly.activation_based.functional import reset_net

    def sj_ce(net, x, y):
        reset_net(net)  # SpikingJelly's nodes keep their membrane between calls
        return ce(net, x, y)

    steps["SJ torch"] = make_step(sj_twin(plain, strict_surrogate(plain.neuron)), case, sj_ce)
    if case.execution.is_cuda:
        found, skipped = sj_cuda_implementations(case.execution.device)
        for name, select in found.items():
            steps[f"SJ op:{name}"] = make_step(sj_twin(plain, None), case, sj_ce, before=select)
        skipped = {f"SJ op:{name}": why for name, why in skipped.items()}
    return steps, skipped


def median_seconds(steps: dict[str, Step], case: Case) -> tuple[dict[str, float], dict[str, str]]:
    """Median seconds per step of each variant, timed one step each in turn after the warm-up;
    an SJ variant that fails in its warm-up is dropped with its error (enof's errors propagate)."""
    cuda = case.execution.is_cuda
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    failed = {}
    for name, step in list(steps.items()):
        try:
            for _ in range(WARMUP["cuda" if cuda else "cpu"]):
                step()
            sync()
        except Exception as error:  # noqa: BLE001 - a third-party backend; reported in the table
            if not name.startswith("SJ"):
                raise
            failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
            del steps[name]
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(case.steps):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}, failed


def build_cases(args: argparse.Namespace) -> list[Case]:
    """Every (device, AMP mode, arch, T) asked for; an AMP mode the device lacks is skipped, said once."""
    cases = []
    for device in args.device:
        for amp in sorted(set(args.amp or ()) - set(AMP_BY_DEVICE[device])):
            print(f"--amp {amp} skipped on {device}: it has {', '.join(AMP_BY_DEVICE[device])}")
        for arch in args.arch:
            default = CPU_DEFAULT_AMP[arch] if device == "cpu" else AMP_BY_DEVICE[device]
            for amp in [a for a in args.amp or default if a in AMP_BY_DEVICE[device]]:
                ex = resolve_execution(device=device, amp=amp)
                batch = args.batch or BATCH[device].get(arch, 128)
                steps = args.steps if device == "cuda" else max(2, args.steps // CPU_STEP_SHARE[arch])
                cases += [Case(arch, batch, t, steps, ex) for t in args.timesteps]
    return cases


def _ips(seconds: dict[str, float], name: str, batch: int) -> float | None:
    return batch / seconds[name] if name in seconds else None


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


Result = tuple[Case, float, dict[str, float]]  # a case, the 1-min load at its start, median s per variant


def result_table(results: list[Result], sj_names: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["arch", "input", "batch", "T", "device", "amp", "steps", "load 1 min", "plain img/s", "EnOF img/s",
              "EnOF / plain (time)"]
    for name in sj_names:
        header += [f"{name} img/s", f"enof / {name} (speed)"]
    rows = []
    for case, load, seconds in results:
        plain = _ips(seconds, "plain", case.batch)
        row = [case.arch, "×".join(map(str, case.shape)), str(case.batch), str(case.timesteps),
               str(case.execution.device), case.execution.amp, str(case.steps), f"{load:.2f}", _fmt(plain),
               _fmt(_ips(seconds, "EnOF", case.batch)), f"{seconds['EnOF'] / seconds['plain']:.2f}×"]
        for name in sj_names:
            sj = _ips(seconds, name, case.batch)
            row += [_fmt(sj), "—" if sj is None else f"{plain / sj:.2f}×"]
        rows.append(row)
    return header, rows


def predict_table(results: list[Result], epochs: int, teacher_epochs: int,
                  images: int) -> tuple[list[str], list[list[str]], list[str]]:
    """Wall time a CIFAR-shaped case implies for `images` per epoch: steps only (no data loading,
    no test-set evaluation), at the measured images/s."""
    header = ["arch", "T", "batch", "device", "amp", "teacher img/s", "EnOF img/s", "teacher epoch", "EnOF epoch",
              "1 + 1 epochs", f"{teacher_epochs} + {epochs} epochs"]
    rows, notes = [], []
    need = images / TARGET_EPOCH_S
    for case, _, seconds in results:
        if case.shape != (3, 32, 32) or "teacher" not in seconds:
            continue
        teacher_s, enof_s = images * seconds["teacher"] / case.batch, images * seconds["EnOF"] / case.batch
        rows.append([case.arch, str(case.timesteps), str(case.batch), str(case.execution.device),
                     case.execution.amp, _fmt(case.batch / seconds["teacher"]), _fmt(case.batch / seconds["EnOF"]),
                     f"{teacher_s:,.1f} s", f"{enof_s:,.1f} s", f"{teacher_s + enof_s:,.1f} s",
                     f"{(teacher_epochs * teacher_s + epochs * enof_s) / 3600:,.1f} h"])
        if case.arch == "resnet20" and case.timesteps == 4 and case.execution.is_cuda:
            verdict = "meets" if enof_s <= TARGET_EPOCH_S else "misses"
            notes.append(f"ResNet20 T = 4 on {case.execution.describe()}: EnOF epoch {enof_s:,.1f} s at "
                         f"{case.batch / seconds['EnOF']:,.0f} img/s; the ≤ {TARGET_EPOCH_S:.0f} s target needs "
                         f"≥ {need:,.0f} img/s: {verdict} it.")
    return header, rows, notes


def markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(width=250).print(table)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    available = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    parser.add_argument("--device", nargs="+", choices=("cpu", "cuda"), default=available,
                        help=f"default: every device torch sees ({' '.join(available)})")
    parser.add_argument("--amp", nargs="+", choices=("off", "bf16", "fp16"), default=None,
                        help="default: cuda off bf16 fp16; cpu off, and bf16 for digits_cnn only")
    parser.add_argument("--arch", nargs="+", choices=("digits_cnn", "resnet20", "resnet19"),
                        default=["digits_cnn", "resnet20", "resnet19"])
    parser.add_argument("-T", "--timesteps", nargs="+", type=int, default=[2, 4])
    parser.add_argument("--batch", type=int, default=None,
                        help="default: cpu 16 (resnet19: 4), cuda 128")
    parser.add_argument("--steps", type=int, default=20,
                        help="timed steps per variant (CPU: resnet20 a quarter, resnet19 an eighth, at least 2)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument("--no-sj", action="store_true", help="skip the SpikingJelly columns")
    parser.add_argument("--predict", action="store_true",
                        help="also time the ANN teacher's step and predict CIFAR-10 epoch wall times")
    parser.add_argument("--predict-epochs", type=int, default=400, help="SNN epochs of the predicted recipe")
    parser.add_argument("--predict-teacher-epochs", type=int, default=400,
                        help="teacher epochs of the predicted recipe")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the tables as markdown here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    try:
        sj_version = None if args.no_sj else importlib.metadata.version("spikingjelly")
        sj_check = check_sj_matches_enof() if sj_version else None
    except importlib.metadata.PackageNotFoundError:
        sj_version, sj_check = None, None
    sj_note = (f"SpikingJelly {sj_version}. {sj_check}" if sj_version else
               "SpikingJelly skipped (" + ("--no-sj" if args.no_sj else "not installed: "
                                           "pip install --no-deps spikingjelly==2.0.0 loguru") + ").")
    load_start = os.getloadavg()
    results, failures = [], {}
    for case in build_cases(args):
        case.execution.apply_backend_flags()
        steps, skipped = case_steps(case, sj_version is not None, args.predict)
        load = os.getloadavg()[0]
        seconds, failed = median_seconds(steps, case)
        results.append((case, load, seconds))
        for name, why in {**skipped, **failed}.items():
            failures.setdefault(f"{name} on {case.execution.device}", why)
        print(f"{case.arch} T={case.timesteps} {case.execution.describe()}: "
              + ", ".join(f"{n} {case.batch / s:,.1f} img/s" for n, s in seconds.items()), flush=True)
    load_end = os.getloadavg()
    sj_names = sorted({n for _, _, s in results for n in s if n.startswith("SJ")}, key=lambda n: (n != "SJ torch", n))
    header, rows = result_table(results, sj_names)
    gpus = sorted({torch.cuda.get_device_name(c.execution.device) for c, _, _ in results if c.execution.is_cuda})
    machine = (f"{platform.machine()} ({os.cpu_count()} CPUs), {args.threads} torch CPU thread(s)"
               + (f", {', '.join(gpus)}" if gpus else "") + f"; torch {torch.__version__}")
    load_note = (f"load average (1, 5, 15 min) {', '.join(f'{v:.2f}' for v in load_start)} at start, "
                 f"{', '.join(f'{v:.2f}' for v in load_end)} at the end; the `load 1 min` column: at each case's start")
    notes = [machine, load_note, sj_note] + [f"{name}: not timed ({why})" for name, why in failures.items()]
    print_table("training step, median images/s", header, rows)
    for note in notes:
        print(note)
    lines = markdown(header, rows)
    if args.predict:
        p_header, p_rows, p_notes = predict_table(results, args.predict_epochs, args.predict_teacher_epochs,
                                                  CIFAR10_TRAIN_IMAGES)
        if not p_rows:
            p_notes.append("No prediction: no CIFAR-shaped (3×32×32) case was measured.")
        print_table(f"predicted CIFAR-10 wall time ({CIFAR10_TRAIN_IMAGES:,} images/epoch, steps only)",
                    p_header, p_rows)
        for note in p_notes:
            print(note)
        lines += ["", f"Predicted CIFAR-10 wall time ({CIFAR10_TRAIN_IMAGES:,} training images per epoch; "
                  "steps only: no data loading, no test-set evaluation; teacher: the ANN at T = 1 with CE):",
                  "", *markdown(p_header, p_rows), "", *p_notes]
    if args.markdown is not None:
        write_markdown(args.markdown, lines, notes)


def write_markdown(path: Path, table_lines: list[str], notes: list[str]) -> None:
    """The results page: what was measured, on what, under which load; written atomically."""
    command = "benchmarks/train_step.py " + " ".join(sys.argv[1:])
    lines = [
        "# Training step: plain SNN, EnOF, and the same SNN in SpikingJelly",
        "",
        "Median images/s of one training step (batch to the device, forward and loss under the run's autocast,",
        "backward and SGD update through its GradScaler: `enof/trainer/execution.py`, as `enof-train` runs it) on",
        "random data. plain = CE on the SNN; EnOF = the SNN with RepAct and CE + λ·L_AF, which adds the frozen",
        "ANN teacher's forward (T = 1, no gradient). `SJ torch` = the plain SNN with the same weights, every enof",
        "LIF replaced by SpikingJelly's multi-step `LIFNode` (tau = 1/(1 − decay), decay_input=False, same",
        "threshold, hard reset to 0) firing strictly at v > θ like enof (enof's rect surrogate, which runs",
        "SpikingJelly's torch autograd path: its only path on CPU). `SJ op:…` (CUDA only) = SpikingJelly's",
        "registered LIF operators with its ATan surrogate, which fire at v ≥ θ. `EnOF / plain` is a ratio of",
        "step times (target ≤ 1.3×); `enof / SJ …` is enof plain's speed over SpikingJelly's (target ≥ 1.00×).",
        f"The third target, an EnOF epoch of CIFAR-10 ResNet20 T = 4 in ≤ {TARGET_EPOCH_S:.0f} s on one H200, needs",
        f"≥ {CIFAR10_TRAIN_IMAGES / TARGET_EPOCH_S:,.0f} img/s ({CIFAR10_TRAIN_IMAGES:,} / {TARGET_EPOCH_S:.0f}): "
        "`benchmarks/gpu_check.sh` measures it (docs/gpu-check.md).",
        "",
        "The variants of a row are timed one step each in turn, so load from other processes hits them",
        "alike: ratios within a row hold under load; absolute images/s are for the load shown.",
        "",
        *(f"- {note}" for note in notes),
        "",
        *table_lines,
        "",
        f"Produced by `.venv/bin/python {command}`.",
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


if __name__ == "__main__":
    main()
