"""What ``enof.export``, ``enof.run`` and ``enof.energy`` return: a bundle, a run and an energy report, typed.

Each wraps the object the commands write (the bundle folder, run.json, the energy report) and adds what a
notebook wants next to it: arrays, properties, ``save``, ``to_dict``, ``plot``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from enof.formats.layer_names import shown_name
from enof.formats.outputs import check_output_file, writing
from enof.formats.run_result import write_run_result
from enof.formats.manifest import Manifest
from enof.formats.run_result import CoreActivity, LayerActivity, RunResult as RunRecord

if TYPE_CHECKING:  # the energy model loads the runtime: imported where a report is made, not by `import enof`
    from enof.runtime.energy.report_model import Headline, Report
    from enof.runtime.energy.result import CoreStats, LayerStats, ModelEnergy


@dataclass(frozen=True)
class Bundle:
    """A bundle folder on disk (what ``enof-export`` writes), with its manifest read.

    ``module_paths`` maps each chip and host layer's enof name to where it came from: a torch module path
    (``"3"``, ``"features.0"``) or a NIR node."""

    path: Path
    manifest: Manifest
    export: object | None = None  # enof.exporter.export.ExportResult when this session exported it

    @classmethod
    def open(cls, path: str | Path) -> "Bundle":
        """The bundle at ``path``, its manifest and file hashes checked."""
        # lazy: `import enof` stays light; the bundle reader and the report load when used
        from enof.runtime.bundle import open_bundle

        opened = open_bundle(path)
        return cls(opened.root, opened.manifest)

    @property
    def target(self) -> str:
        return self.manifest.target.name

    @property
    def timesteps(self) -> int:
        return self.manifest.timesteps

    @property
    def num_classes(self) -> int:
        return self.manifest.num_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.manifest.input_shape)

    @property
    def module_paths(self) -> dict[str, str]:
        return dict(self.manifest.module_paths)

    def layer_of(self, source_name: str) -> str:
        """The enof layer name of a torch module path or NIR node name (``"3"`` → ``"lif3"``)."""
        for name, source in self.manifest.module_paths.items():
            if source == source_name:
                return name
        raise KeyError(f"{source_name!r} is no layer's source in {self.path}; the layers are {sorted(self.manifest.module_paths)}")


@dataclass
class RunResult:
    """One run of a bundle: run.json's record (``record``), and the spike rasters when they were recorded.

    ``spikes[layer]`` is (T, N, *shape) uint8, aligned time (step t from input step t), for every chip layer."""

    record: RunRecord
    spikes: dict[str, np.ndarray] | None = None
    path: Path | None = None  # where ``save`` last wrote run.json
    # the bundle's manifest module_paths (enof layer name → torch module path or NIR node): for shown_name
    module_paths: dict[str, str] = field(default_factory=dict, repr=False)

    def shown_name(self, layer: str) -> str:
        """The name tables show for chip layer ``layer``: ``"3 (lif3)"`` where the export renamed the user's
        all-digit NIR node "3" (enof.formats.layer_names); run.json and ``layers`` keep the enof name."""
        return shown_name(layer, self.module_paths)

    @property
    def predictions(self) -> np.ndarray:
        """One class index per sample, (N,) int64."""
        return np.asarray(self.record.predictions, np.int64)

    @property
    def labels(self) -> np.ndarray | None:
        return None if self.record.labels is None else np.asarray(self.record.labels, np.int64)

    @property
    def accuracy(self) -> float | None:
        """The share of predictions equal to the labels; None without labels."""
        return self.record.accuracy

    @property
    def samples(self) -> int:
        return self.record.samples

    @property
    def layers(self) -> list[LayerActivity]:
        """Per chip layer: neurons, cores and the spikes, synaptic ops and neuron updates summed over the run."""
        return list(self.record.layers)

    @property
    def cores(self) -> list[CoreActivity]:
        return list(self.record.cores)

    @property
    def bundle(self) -> Path:
        return Path(self.record.bundle)

    def save(self, path: str | Path) -> Path:
        """Write run.json (what ``enof-run -o`` writes; ``enof-energy`` reads it) atomically; returns its path."""
        path = check_output_file(path, example="run.json")
        with writing(path):
            write_run_result(self.record, path)
        self.path = path
        return path


@dataclass(frozen=True)
class EnergyReport:
    """What ``enof-energy`` prints, as data: the headline, per-layer and per-core tables, every cost model.

    ``report`` is the typed report (enof.runtime.energy.report_model.Report: the priced run, its sources, the
    profile's timing and the user's layer names) that the tables, CSV and plot read; ``str(report)`` is the text
    report; ``to_dict()`` is ``enof-energy --format json``; ``plot(path)`` is ``--plot``."""

    report: Report
    model: str | None = None  # the cost model of the breakdown tables and plot (None: the default)
    _text_width: int = field(default=180, repr=False)

    @property
    def headline(self) -> Headline:
        """Energy (chip, host, total), latency, inferences/s and EDP per inference under the default cost model."""
        return self.report.headline

    @property
    def layers(self) -> tuple[LayerStats, ...]:
        """Per chip layer: neurons, cores, firing rate, spikes and synops per inference (``energy()`` prices them)."""
        return self.report.result.layers

    @property
    def cores(self) -> tuple[CoreStats, ...]:
        """Per core: its layer, chip and tile, activity per inference and where its spikes go."""
        return self.report.result.cores

    @property
    def models(self) -> list[str]:
        return self.report.model_names

    def energy(self, model: str | None = None) -> ModelEnergy:
        """One cost model's prices, per layer (``.layers[name]``), per core (``.cores[core_id]``) and in total
        (``.total_pj``, ``.chip_pj``, ``.host_pj``): ``model``, else this report's model, else the default."""
        return self.report.model(model or self.model)

    def to_dict(self) -> dict:
        """Every number of the report (energies in pJ per inference): ``enof-energy --format json``."""
        # lazy: `import enof` stays light; the bundle reader and the report load when used
        from enof.runtime.energy.report_json import report_dict

        return report_dict(self.report)

    def text(self, width: int | None = None) -> str:
        """The report's tables as plain text."""
        # lazy: `import enof` stays light; the bundle reader and the report load when used
        from enof.runtime.energy.report import report_text

        return report_text(self.report, width or self._text_width, main=self.model)

    def plot(self, path: str | Path) -> Path:
        """Write the PNG of ``enof-energy --plot``; returns its path."""
        from enof.runtime.energy.plot import plot_report  # lazy: matplotlib, only when a plot is drawn

        path = check_output_file(path, example="energy.png")
        with writing(path):
            plot_report(self.report, path, self.model)
        return path

    def __str__(self) -> str:
        return self.text()
