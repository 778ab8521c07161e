"""run.json (docs/design.md §7, docs/run-json.md): what one ``enof-run`` measured.

Written by ``enof.runtime.run`` (atomically), read by the energy report. Spikes, synops and neuron
updates are totals over all samples and timesteps; the host figures are per inference.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from enof.formats.atomic import atomic_write_text
from enof.errors import RunResultError

RUN_FORMAT = "enof-run"
RUN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class LayerActivity:
    name: str
    neurons: int
    cores: int
    spikes: int
    synops: int
    neuron_updates: int


@dataclass(frozen=True)
class CoreActivity:
    core_id: int
    layer: str
    spikes: int
    synops: int
    neuron_updates: int


@dataclass(frozen=True)
class HostCost:
    """Per inference (one sample): multiply-accumulates on the host and bytes crossing the host↔chip link."""

    host_in_macs: int
    host_out_macs: int
    bytes_host_to_chip: int
    bytes_chip_to_host: int


@dataclass(frozen=True)
class RunResult:
    bundle_manifest_sha256: str
    backend: str  # fast | lava
    precision: str  # fixed | float
    target: str
    timesteps: int
    samples: int
    accuracy: float
    predictions: list[int]
    labels: list[int]
    layers: list[LayerActivity]
    cores: list[CoreActivity]
    host: HostCost
    wall_s: float
    bundle: str = ""  # the bundle folder the run read (optional; lets enof-energy find it)

    def __post_init__(self):
        if self.backend not in ("fast", "lava"):
            raise ValueError(f"backend must be fast or lava, got {self.backend!r}")
        if self.precision not in ("fixed", "float"):
            raise ValueError(f"precision must be fixed or float, got {self.precision!r}")
        if len(self.predictions) != self.samples or len(self.labels) != self.samples:
            raise ValueError(
                f"{self.samples} samples but {len(self.predictions)} predictions and {len(self.labels)} labels"
            )

    def to_dict(self) -> dict:
        return {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, **asdict(self)}


def write_run_result(result: RunResult, path: str | Path) -> Path:
    """Write run.json through a temporary file in the same folder and rename it into place."""
    return atomic_write_text(path, json.dumps(result.to_dict(), indent=1) + "\n")


def read_run_result(path: str | Path) -> RunResult:
    """Read and check a run.json; every problem is a one-line RunResultError naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunResultError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise RunResultError(f"{path}: not UTF-8 text, not a run.json") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunResultError(f"{path}: not valid JSON (truncated?): {exc.msg} at line {exc.lineno}") from None
    return run_result_from_dict(data, str(path))


def run_result_from_dict(data, label: str = "run.json") -> RunResult:
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise RunResultError(f"{label}: not an enof run.json (format is not {RUN_FORMAT!r})")
    version = data.get("format_version")
    if version != RUN_FORMAT_VERSION:
        raise RunResultError(f"{label}: format_version {version!r} is not supported (this enof reads {RUN_FORMAT_VERSION})")
    try:
        optional = {f.name for f in fields(RunResult) if f.name == "bundle"}
        values = {f.name: data[f.name] for f in fields(RunResult) if f.name not in optional or f.name in data}
        values["layers"] = [LayerActivity(**layer) for layer in values["layers"]]
        values["cores"] = [CoreActivity(**core) for core in values["cores"]]
        values["host"] = HostCost(**values["host"])
        return RunResult(**values)
    except KeyError as exc:
        raise RunResultError(f"{label}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError) as exc:
        raise RunResultError(f"{label}: malformed: {exc}") from None
