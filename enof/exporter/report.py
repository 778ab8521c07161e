"""Rich tables of an export: where each node runs, what quantization did, where the layers sit."""

from __future__ import annotations

from rich.table import Table

from enof.exporter.partition import Partition
from enof.exporter.quantize import Quantized


def partition_table(part: Partition) -> Table:
    table = Table(title=f"Partition ({part.input_mode} input; chip outputs: {', '.join(part.chip_outputs)})")
    for col in ("node", "where", "shape", "reason"):
        table.add_column(col)
    style = {"chip": "green", "host_in": "cyan", "host_out": "magenta"}
    for e in part.entries:
        table.add_row(e.node, f"[{style[e.where]}]{e.where}[/]", "×".join(map(str, e.shape)), e.reason)
    return table


def quantization_table(quant: Quantized, calibration_samples: int) -> Table:
    calibrated = f"{calibration_samples} calibration samples" if calibration_samples else "not calibrated"
    table = Table(title=f"Quantization (input.scale = {quant.input_scale:.6g}; {calibrated})")
    for col in ("LIF", "scale", "limited by", "vth", "bias_exp", "|w_int| max", "w err rms/max (rel)",
                "peak |v| / 2^23", "peak |I| / 2^23"):
        table.add_column(col, justify="left" if col in ("LIF", "limited by") else "right")

    def frac(value, limit):
        return "—" if value is None else f"{value / limit:.3f}"

    for q in quant.lifs.values():
        fed = q.name not in quant.current_fed  # a current-fed LIF has no chip weights
        table.add_row(
            q.name, f"{q.scale:.5g}", q.limited_by, str(q.vth), str(q.bias_exp),
            str(q.weight_int_max) if fed else "— (host-in current)",
            f"{q.weight_rms_rel_error:.4f} / {q.weight_max_rel_error:.4f}" if fed else "—",
            frac(q.v_peak_int, q.state_max), frac(q.current_peak_int, q.state_max),
        )
    return table
