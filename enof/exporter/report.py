"""Rich tables of an export: where each node runs, what quantization did, where the layers sit."""

from __future__ import annotations

from rich.table import Table

from enof.exporter.partition import Partition
from enof.exporter.quantize import Quantized


def partition_table(part: Partition) -> Table:
    table = Table(title=f"Partition ({part.input_mode} input; chip outputs: {', '.join(part.chip_outputs)})")
    for col in ("node", "where", "shape", "reason"):
        table.add_column(col, no_wrap=col != "reason")
    style = {"chip": "green", "host_in": "cyan", "host_out": "magenta"}
    for e in part.entries:
        table.add_row(e.node, f"[{style[e.where]}]{e.where}[/]", "×".join(map(str, e.shape)), e.reason)
    return table


def quantization_table(quant: Quantized, calibration_samples: int) -> Table:
    calibrated = f"{calibration_samples} calibration samples" if calibration_samples else "not calibrated"
    if not calibration_samples and quant.current_fed:
        calibrated += "; host-in current sized by its worst-case bound"
    table = Table(title=f"Quantization (input.scale = {quant.input_scale:.6g}; {calibrated})")
    table.caption = ("scale: v units per float unit; w err: rms / max weight rounding error relative to the "
                     "weights' rms / max; state: largest |v| (|I|) reached, as a fraction of the signed state range")
    for col in ("LIF", "scale", "vth", "b_exp", "w err", "state", "limited by"):
        wraps = col == "limited by"
        table.add_column(col, justify="left" if col in ("LIF", "limited by") else "right", no_wrap=not wraps,
                         min_width=11 if wraps else None)

    def frac(value, limit):
        return "—" if value is None else f"{value / limit:.2f}"

    for q in quant.lifs.values():
        fed = q.name not in quant.current_fed  # a current-fed LIF has no chip weights
        table.add_row(
            q.name, f"{q.scale:.3g}", str(q.vth), str(q.bias_exp),
            f"{100 * q.weight_rms_rel_error:.1f}%/{100 * q.weight_max_rel_error:.1f}%" if fed else "(current)",
            f"{frac(q.v_peak_int, q.state_max)} ({frac(q.current_peak_int, q.state_max)})",
            q.limited_by,
        )
    return table
