"""Float vs fixed-point accuracy before and after quantization-aware fine-tuning, per target and seed.

    .venv/bin/python benchmarks/finetune.py [--seeds 5] [--targets loihi,loihi2] [-o docs/finetune-digits.md]
    .venv/bin/python benchmarks/finetune.py --dataset mnist5k --arch mnist_cnn --width 32 \
        --work runs/finetune-mnist5k -o docs/finetune-mnist5k.md

Per seed: train (enof.trainer.loop.train, the quick recipe) or reuse ``<work>/seed<N>/model.pt``;
per target: export, run the built-in simulator in fixed point on the whole test split (the bit-exact
one: enof-run's fast backend), fine-tune (enof.trainer.finetune), export and run again. Every step's
result is kept in ``<work>/results.json``, so an interrupted run continues where it stopped.
Prints the table (mean ± sample std over seeds) and writes it as markdown and JSON. Never run by pytest.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

COLUMNS = ("float_before", "fixed_before", "float_after", "fixed_after")


def fixed_accuracy(model_path: Path, target: str, bundle: Path, test) -> float:
    """Export ``model_path`` for ``target`` and classify ``test`` = (inputs, labels) on the fast fixed-point simulator."""
    from enof.exporter.export import export_bundle
    from enof.runtime.bundle import open_bundle
    from enof.runtime.run import run_bundle

    export_bundle(model_path, target, bundle)
    return float(run_bundle(open_bundle(bundle), test[0], test[1], backend="fast", precision="fixed",
                            progress=False).accuracy)


def test_split(name: str) -> tuple[np.ndarray, np.ndarray]:
    from enof.datasets import load_test_split

    test = load_test_split(name, None)
    return (np.stack([np.asarray(test[i][0], np.float32) for i in range(len(test))]),
            np.asarray([int(test[i][1]) for i in range(len(test))], np.int64))


def run(args, console: Console) -> dict:
    from enof.trainer.checkpoint import load_checkpoint
    from enof.trainer.config import TrainConfig
    from enof.exporter.finetune_target import ExportQuantizer
    from enof.trainer.finetune import FinetuneConfig, finetune
    from enof.trainer.loop import train

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = work / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    test = test_split(args.dataset)
    args.test_images = len(test[1])
    for seed in range(args.seeds):
        model = work / f"seed{seed}" / "model.pt"
        if not model.exists():
            started = time.perf_counter()
            arch_kwargs = {} if args.width is None else {"width": args.width}
            train(TrainConfig(dataset=args.dataset, arch=args.arch, arch_kwargs=arch_kwargs, timesteps=args.timesteps,
                              seed=seed, out=str(model)))
            console.print(f"seed {seed}: trained in {time.perf_counter() - started:.0f} s")
        for target in args.targets:
            key = f"{seed}/{target}"
            if key in results:
                continue
            tuned = model.with_name(f"model-{target}-ft.pt")
            result = finetune(FinetuneConfig(str(model), target, epochs=args.epochs, lr=args.lr, seed=seed, out=str(tuned)),
                              ExportQuantizer)
            results[key] = {
                "seed": seed, "target": target,
                "float_before": float(load_checkpoint(model).metrics["test_accuracy"]),
                "fixed_before": fixed_accuracy(model, target, work / f"seed{seed}" / f"bundle-{target}", test),
                "float_after": result.float_accuracy,
                "fixed_after": fixed_accuracy(tuned, target, work / f"seed{seed}" / f"bundle-{target}-ft", test),
                "fixed_point_forward_after": result.quantized_accuracy,
            }  # fmt: skip
            store.write_text(json.dumps(results, indent=1))
            row = results[key]
            console.print(f"seed {seed} {target}: " + ", ".join(f"{c} {100 * row[c]:.2f}%" for c in COLUMNS))
    return results


def summary(results: dict, targets: list[str]) -> list[dict]:
    """Per target: mean and sample std (percent) of every column and of fixed − float after fine-tuning."""
    rows = []
    for target in targets:
        runs = [r for r in results.values() if r["target"] == target]
        values = {c: [100 * r[c] for r in runs] for c in COLUMNS}
        values["fixed_minus_float_after"] = [100 * (r["fixed_after"] - r["float_after"]) for r in runs]
        values["float_after_minus_before"] = [100 * (r["float_after"] - r["float_before"]) for r in runs]
        rows.append({"target": target, "seeds": len(runs), **{
            k: {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0} for k, v in values.items()}})
    return rows


INTRO = """# Quantization-aware fine-tuning on {dataset}

`enof-train finetune MODEL.pt --target T` fine-tunes a trained SNN with the exporter's own integers in
its forward pass (enof/trainer/finetune.py). Below: test accuracy ({test} {dataset} test images, so one image
is {image:.2f} points) of the float network ({arch}{width}, T = {timesteps}, trained with {dataset}'s quick
recipe: enof.trainer.config.QUICK) and of its export run on the
built-in fixed-point simulator (bit-exact with Lava), before and after {epochs} fine-tuning epochs at lr {lr},
per target.
"""


def markdown(rows: list[dict], results: dict, args) -> str:
    """The doc: intro, the mean ± std table, the per-seed rows, the command that made it."""
    heads = ["target", "seeds", "float before", "fixed before", "float after", "fixed after",
             "fixed − float (after)", "float after − before"]
    keys = [*COLUMNS, "fixed_minus_float_after", "float_after_minus_before"]
    intro = INTRO.format(dataset=args.dataset, test=args.test_images, image=100 / args.test_images, arch=args.arch,
                         width="" if args.width is None else f", width {args.width}", timesteps=args.timesteps,
                         epochs=args.epochs, lr=args.lr)  # fmt: skip
    lines = [intro, "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for r in rows:
        cells = [f"{r[k]['mean']:.2f} ± {r[k]['std']:.2f}" for k in keys]
        lines.append(f"| {r['target']} | {r['seeds']} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed:", "", "| seed | target | " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " |",
              "|" + "---|" * (2 + len(COLUMNS))]
    for r in sorted(results.values(), key=lambda r: (r["target"], r["seed"])):
        lines.append(f"| {r['seed']} | {r['target']} | " + " | ".join(f"{100 * r[c]:.2f}" for c in COLUMNS) + " |")
    command = (f"python benchmarks/finetune.py --dataset {args.dataset} --arch {args.arch}"
               + ("" if args.width is None else f" --width {args.width}")
               + f" --seeds {args.seeds} --targets {','.join(args.targets)} --epochs {args.epochs} --lr {args.lr}")
    return "\n".join(lines) + f"\n\nPercent, mean ± sample std over seeds. Produced by `{command}`.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--arch", default="digits_cnn")
    parser.add_argument("--width", type=int, default=None, help="the architecture's width (default: its own)")
    parser.add_argument("-T", "--timesteps", type=int, default=2)
    parser.add_argument("--targets", type=lambda s: s.split(","), default=["loihi", "loihi2"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.002)
    parser.add_argument("--work", default="runs/finetune-digits")
    parser.add_argument("-o", "--output", default="docs/finetune-digits.md")
    args = parser.parse_args()
    from enof.trainer.config import QUICK

    threads = QUICK.get(args.dataset, {}).get("threads", 0)
    if threads:
        torch.set_num_threads(threads)  # the recipe's (digits: one thread, enof.trainer.config.QUICK)
    console = Console(stderr=True)
    results = run(args, console)
    rows = summary(results, args.targets)
    table = Table(title=f"{args.dataset} {args.arch} T={args.timesteps}: test accuracy %, mean ± std")
    for head in ("target", "seeds", *COLUMNS, "fixed − float after", "float after − before"):
        table.add_column(head)
    for r in rows:
        table.add_row(r["target"], str(r["seeds"]), *(f"{r[k]['mean']:.2f} ± {r[k]['std']:.2f}" for k in
                      (*COLUMNS, "fixed_minus_float_after", "float_after_minus_before")))
    Console().print(table)
    out = Path(args.output)
    out.write_text(markdown(rows, results, args))
    out.with_suffix(".json").write_text(json.dumps({"summary": rows, "runs": list(results.values())}, indent=1))
    console.print(f"written: {out}, {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
