"""Export + placement time for digits_cnn, ResNet20 and ResNet19 (random weights), both targets.

    .venv/bin/python benchmarks/export.py [--timesteps 1] [--max-chips N]

Prints one row per (network, target): graph→quant time, file writing, placement, cores and chips
(or why it does not fit). Target: ResNet19 exports in ≤ 5 s. Never run by pytest.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import enof  # noqa: F401
from enof.errors import DoesNotFitError

NETWORKS = [("digits_cnn", "digits", {}), ("resnet20", "cifar10", {}), ("resnet19", "cifar10", {})]


def random_checkpoint(arch: str, dataset: str, timesteps: int, path: Path, seed: int = 0) -> Path:
    from enof.trainer.checkpoint import Checkpoint, save_checkpoint, versions
    from enof.datasets import dataset_spec
    from enof.trainer.models import build_model
    from enof.trainer.neurons import NeuronConfig

    torch.manual_seed(seed)
    spec = dataset_spec(dataset)
    model = build_model(arch, repact=True, timesteps=timesteps, num_classes=spec.num_classes)
    ckpt = Checkpoint(
        arch=arch, arch_kwargs={"num_classes": spec.num_classes}, neuron=NeuronConfig().to_dict(),
        timesteps=timesteps, repact=True, state_dict=model.state_dict(), dataset=spec,
        seed=seed, versions=versions(),
    )  # fmt: skip
    save_checkpoint(ckpt, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=1)
    parser.add_argument("--max-chips", type=int, default=None, help="override the profiles' max_chips")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from enof.exporter.export import export_bundle

    table = Table(title=f"enof-export, random weights, T = {args.timesteps}, calibrate = 0 (1 CPU thread)")
    for col in ("network", "target", "total s", "placement s", "files s", "cores", "chips", "note"):
        table.add_column(col, justify="left" if col in ("network", "target", "note") else "right")
    with tempfile.TemporaryDirectory() as tmp:
        for arch, dataset, _ in NETWORKS:
            ckpt = random_checkpoint(arch, dataset, args.timesteps, Path(tmp) / f"{arch}.pt")
            for target in ("loihi", "loihi2"):
                start = time.perf_counter()
                try:
                    result = export_bundle(ckpt, target, Path(tmp) / f"{arch}-{target}", calibrate=0,
                                           max_chips=args.max_chips)  # fmt: skip
                except DoesNotFitError as exc:
                    table.add_row(arch, target, f"{time.perf_counter() - start:.2f}", "", "", "", "", f"does not fit: {exc}")
                    continue
                total = time.perf_counter() - start
                t = result.timings_s
                table.add_row(arch, target, f"{total:.2f}", f"{t['placement']:.2f}", f"{t['files']:.2f}",
                              f"{len(result.placement.cores):,}", str(result.placement.chips), "")  # fmt: skip
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
