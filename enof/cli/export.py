"""enof-export: a checkpoint or a NIR graph → a bundle for a target (chip.nir, host ONNX, quant.npz, placement.json)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from enof.cli.options import PLUGIN_HELP
from enof.trainer.ranges import timesteps_in_range
from enof.cli.console import command_app, make_console
from enof.cli.output import exit_codes_epilog, fail, print_json
from enof.errors import EnofError
from enof.exporter.placement import placement_table
from enof.formats.manifest import MANIFEST_NAME, WHERE
from enof.formats.digest import file_sha256
from enof.hardware_profiles import load_profile

class NetxChoice(str, Enum):
    auto = "auto"
    required = "required"
    off = "off"


app = command_app()


@app.command(epilog=exit_codes_epilog())
def export(
    checkpoint: Path = typer.Argument(..., help="model.pt written by enof-train, or a NIR graph (.nir, HDF5) written by another tool"),
    target: str = typer.Option(..., "--target", help="loihi, loihi2 or the path of a profile TOML"),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output",
        help="bundle folder (default: <checkpoint dir>/<stem>-<target>-bundle); missing parent folders are "
        "created; an existing bundle or empty folder there is replaced, anything else is refused",
    ),
    calibrate: int = typer.Option(32, "--calibrate", min=0, help="training samples run in float to check state ranges (0: none)"),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="data set root for calibration (CIFAR, DVS)"),
    weight_bits: Optional[int] = typer.Option(None, "--weight-bits", help="synapse weight bits, 2 to the profile's (8): "
                                              "a coarser weight grid and fewer synapse bits per core (default: the profile's); "
                                              "fine-tune with the same --weight-bits"),
    max_chips: Optional[int] = typer.Option(None, "--max-chips", min=1, help="chips available (default: the profile's max_chips, the largest system built; e.g. 32 for a Nahuku board)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print only where the bundle was written (no partition, quantization and placement tables)"),
    json_output: bool = typer.Option(False, "--json", help="print what was written as one JSON object (bundle, files, target, partition, placement per layer) instead of the tables"),
    timesteps: Optional[int] = typer.Option(None, "--timesteps", min=1, help="NIR graph: time steps per sample (default: the graph metadata's)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="NIR graph: the data set it classifies (calibration, and enof-run's test split); default none"),
    input_bound: float = typer.Option(1.0, "--input-bound", min=1e-12, help="NIR graph without --dataset: the largest |input| (sizes the fixed-point ranges)"),
    dt_s: Optional[float] = typer.Option(None, "--dt-s", min=1e-12, help="NIR graph: the Euler step in seconds the graph was written for (default: its metadata dt_s; a graph without one needs this: snnTorch writes for 1e-4, Norse's from_nir runs 1e-3)"),
    netx: NetxChoice = typer.Option(NetxChoice.auto, "--netx", help="chip.net.h5, the chip part as a lava-dl netx file for Loihi 2: auto "
                             "(written where netx can express it, else the export says why), required (refuse the "
                             "export without it), off"),
    plugin: list[str] = typer.Option([], "--plugin", help=PLUGIN_HELP),
) -> None:
    """Export a trained EnOF network, or a NIR graph from another tool, for a (simulated) Loihi target and print where everything runs."""
    # lazy: the export pulls torch, ONNX and NIR; --help and option errors answer without them
    from enof.api import export as export_source
    from enof.exporter.export import check_bundle_folder, default_out_dir
    from enof.exporter.report import partition_table, quantization_table
    from enof.trainer.models import load_plugins

    try:
        if timesteps is not None:
            timesteps_in_range((timesteps,), "--timesteps")
        load_plugins(plugin)
        if output is not None:
            check_bundle_folder(output, "-o")
        out = output if output is not None else default_out_dir(checkpoint, load_profile(target).name)
        result = export_source(  # the Python API's enof.export: the command and the API stay in step
            checkpoint, target, out, timesteps=timesteps, dt_s=dt_s, dataset=dataset, calibrate=calibrate,
            data_root=data_root, input_bound=input_bound, max_chips=max_chips, weight_bits=weight_bits, netx=netx.value,
        ).export
        if json_output:
            print_json(export_dict(checkpoint, result))
            return
    except EnofError as exc:
        fail(exc)
    console = make_console()
    if not quiet:
        console.print(partition_table(result.partition))
        console.print(quantization_table(result.quant, result.calibration_samples))
        console.print(placement_table(result.placement))
    if not quiet and "skipped" in result.manifest.netx and netx != NetxChoice.off:  # --quiet: one line only
        console.print(f"no chip.net.h5 (netx): {result.manifest.netx['skipped']}", markup=False, highlight=False)
    console.print(f"bundle written to {result.out_dir}")


def export_dict(checkpoint: Path, result) -> dict:
    """The --json object: the bundle as written (the manifest the export returns), its partition and placement."""
    root, manifest, placement = Path(result.out_dir), result.manifest, result.placement
    partition = {where: [] for where in WHERE}
    for record in manifest.partition:
        partition[record.where].append(record.node)
    return {
        "bundle": str(root), "checkpoint": str(checkpoint), "target": manifest.target.name,
        "dataset": manifest.dataset.name, "timesteps": manifest.timesteps, "input_mode": manifest.input_mode,
        "manifest_sha256": file_sha256(root / MANIFEST_NAME),
        "files": {name: {"sha256": digest, "bytes": (root / name).stat().st_size}
                  for name, digest in manifest.files.items()},
        "calibration_samples": result.calibration_samples, "partition": partition,
        "chips": placement.chips, "cores": len(placement.cores), "layers": [asdict(layer) for layer in placement.layers],
        "timings_s": result.timings_s, "netx": manifest.netx,
    }  # fmt: skip


def main() -> None:
    app(prog_name="enof-export")


if __name__ == "__main__":
    sys.exit(main())
