"""SANA-FE as referee: enof's energy components and step time against SANA-FE 2.2.9 on the same spikes.

    .venv/bin/python benchmarks/sanafe_referee.py BUNDLE [BUNDLE ...] [--samples N] [--timing-model detailed|simple]

Each bundle (Loihi 1) runs its first N test samples on the built-in simulator; the recorded spikes are replayed at
the bundle's placement on SANA-FE's calibrated Loihi architecture (in .venv-sanafe, benchmarks/sanafe_replay.py)
and priced by enof's sanafe_loihi model and [timing] (enof.runtime.energy.referee). Prints one table per bundle:
each component, enof, SANA-FE and their ratio. docs/chip-time.md keeps its output.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from enof.runtime.energy.referee import COMPONENTS, compare_with_sanafe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--timing-model", choices=("detailed", "simple"), default="detailed")
    args = parser.parse_args()
    for bundle in args.bundles:
        with tempfile.TemporaryDirectory(prefix="enof-referee-") as tmp:
            c = compare_with_sanafe(bundle, args.samples, Path(tmp), args.timing_model)
        print(f"\n{bundle}: {c.samples} samples back to back, {c.steps} steps, {c.enof.messages:,} messages, "
              f"{c.enof.synaptic_events:,} synaptic events (SANA-FE {c.sanafe['synaptic_events']:,})")
        print(f"| {'figure':<28} | {'enof':>12} | {'SANA-FE':>12} | {'SANA-FE / enof':>14} |")
        print(f"|{'-' * 30}|{'-' * 14}|{'-' * 14}|{'-' * 16}|")
        for name in COMPONENTS:
            print(f"| {name + ' energy (nJ)':<28} | {getattr(c.enof, name + '_j') * 1e9:>12.2f} | "
                  f"{c.sanafe['energy_j'][name] * 1e9:>12.2f} | {c.energy_ratio(name):>14.4f} |")
        print(f"| {'time per step (µs)':<28} | {c.enof.sim_time_s / c.steps * 1e6:>12.3f} | "
              f"{c.sanafe['sim_time_s'] / c.steps * 1e6:>12.3f} | {c.time_ratio:>14.4f} |")


if __name__ == "__main__":
    main()
