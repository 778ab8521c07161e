"""The energy report as one typed object: the priced run (EnergyResult), where its numbers came from, the profile's
timing constants and the user's layer names. The tables, the CSV, the plot and --quiet read it by attribute; only
report_json turns it into the dict that ``--format json`` writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from enof.formats.layer_names import shown_name
from enof.hardware_profiles import CostModel, Quantity, TimingSection, grades_of
from enof.runtime.energy.inputs import EnergySources
from enof.runtime.energy.price import EnergyInputs, compute_energy
from enof.runtime.energy.result import EnergyResult, ModelEnergy
from enof.runtime.energy.routing import Routing
from enof.runtime.energy.timing import ChipTime, StepTime

ASSUMPTIONS = (
    "Per inference = totals over the run / samples; the SNN runs T timesteps, the ANN baseline one step "
    "(every synapse of every layer once: chip synapses without padding + the host's MACs of one step).",
    "run.json does not tell active from inactive neuron updates: updates at steps where the neuron spiked "
    "are charged active, the rest inactive.",
    "Synaptic ops are charged to the receiving layer, spike routing to the sending layer. A spike is one "
    "message per destination core: within-tile energy + E-W/N-S hops between tiles (chips continue the mesh).",
    "Input events from the host and spikes to the host are host<->chip bytes, not mesh traffic.",
    "Every model prices the events the chip did (event-driven), also the CPU/GPU ones: their SNN row is the "
    "SNN's operations at that device's per-op energy, not a dense CPU/GPU simulation of the SNN.",
)
GIVEN_TIME = "--timestep-us"  # the time source of a run priced with a given step time


@dataclass(frozen=True)
class Headline:
    """The one answer under the default cost model, per inference: energy (chip dynamic + static, host), time
    (latency alone, inferences/s streamed), EDP, each with its grades; the ANN under its own device, with a ratio
    only when one model prices both. None: not priced, or no time modeled."""

    model: str
    energy_grades: tuple[str, ...]
    chip_dynamic_pj: float
    static_pj: float | None
    static_s: float | None
    static_note: str
    chips_used: int
    chip_pj: float
    host_pj: float
    total_pj: float
    latency_s: float | None
    latency_bound_s: float | None
    inferences_per_s: float | None
    edp_js: float | None
    ann_model: str | None
    ann_device: str | None
    ann_pj: float | None
    ann_latency_s: float | None
    ann_over_snn: float | None
    # the cheapest ANN of the profile when it is another model's (the 45 nm MAC accounting SNN papers compare
    # against, which has no time): shown beside the timed one so that neither reads as the only comparison
    ann_lowest_model: str | None = None
    ann_lowest_device: str | None = None
    ann_lowest_pj: float | None = None


@dataclass(frozen=True)
class Report:
    """A priced run as the report shows it. ``module_paths``: the manifest's (enof layer name → the user's
    module path or NIR node), for the names the tables and the plot show."""

    result: EnergyResult
    sources: EnergySources
    timing: TimingSection | None = None
    module_paths: Mapping[str, str] = field(default_factory=dict)

    @property
    def models(self) -> tuple[ModelEnergy, ...]:
        return self.result.models

    @property
    def model_names(self) -> list[str]:
        return [m.model.name for m in self.result.models]

    @property
    def default_model(self) -> ModelEnergy:
        """The first of the models that price the most chip parts: the headline's and the tables' default."""
        return min(self.result.models, key=lambda m: m.unpriced_chip_parts)

    def model(self, name: str | None = None) -> ModelEnergy:
        """The cost model of the breakdown tables and plot: ``name`` (KeyError when the profile has none), else
        the default."""
        if name is None:
            return self.default_model
        for m in self.result.models:
            if m.model.name == name:
                return m
        raise KeyError(f"{name!r} is not a cost model of this report; its models are {', '.join(self.model_names)}")

    def shown(self, name: str) -> str:
        """A layer's name in the tables and the plot: the user's all-digit name beside enof's ("3 (lif3)")."""
        return shown_name(name, self.module_paths)

    def edp_js(self, m: ModelEnergy) -> float | None:
        return m.edp_js(self.result.time)

    @cached_property
    def headline(self) -> Headline:
        chip = self.default_model
        # the ANN under the default model, else the first device with both an ANN energy and a time (like with like)
        with_ann = [m for m in self.result.models if m.ann_pj is not None]
        ann = chip if chip.ann_pj is not None else next((m for m in with_ann if m.ann_latency_s is not None),
                                                         with_ann[0] if with_ann else None)
        lowest = min(with_ann, key=lambda m: m.ann_pj, default=None)
        lowest = None if lowest is ann or lowest.ann_pj >= ann.ann_pj else lowest
        time, bound = self.result.time, self.result.time_bound
        return Headline(
            model=chip.model.name, energy_grades=tuple(chip.energy_grades), chip_dynamic_pj=chip.chip_dynamic_pj,
            static_pj=chip.static_pj, static_s=chip.static_s, static_note=chip.static_note,
            chips_used=self.result.chips_used, chip_pj=chip.chip_pj, host_pj=chip.host_pj, total_pj=chip.total_pj,
            latency_s=None if time is None else time.latency_s,
            latency_bound_s=None if bound is None else bound.latency_s,
            inferences_per_s=None if time is None else time.inferences_per_s,
            edp_js=chip.edp_js(time),
            ann_model=None if ann is None else ann.model.name, ann_device=None if ann is None else ann.ann_device,
            ann_pj=None if ann is None else ann.ann_pj, ann_latency_s=None if ann is None else ann.ann_latency_s,
            # a ratio only of one model's own two figures: never one cost model's ANN over another's SNN
            ann_over_snn=chip.ann_over_snn if ann is chip else None,
            ann_lowest_model=None if lowest is None else lowest.model.name,
            ann_lowest_device=None if lowest is None else lowest.ann_device,
            ann_lowest_pj=None if lowest is None else lowest.ann_pj,
        )  # fmt: skip

    @property
    def ann_baselines(self) -> tuple[ModelEnergy, ...]:
        """Every model with an ANN price: its 1-step ANN against the T-step SNN that the same model prices (like
        with like: never one model's ANN over another model's SNN)."""
        return tuple(m for m in self.result.models if m.ann_pj is not None)

    # the chip's time

    @property
    def time(self) -> ChipTime | None:
        return self.result.time

    @property
    def time_given(self) -> bool:
        return self.result.time is not None and self.result.time.given_step_us is not None

    @property
    def time_source(self) -> str:
        return GIVEN_TIME if self.time_given else "modeled"

    @property
    def time_constants(self) -> dict[str, Quantity]:
        """The profile's [timing] entries the modeled time rests on (none when the step time was given)."""
        if self.time_given or self.timing is None:
            return {}
        return {f.name: getattr(self.timing, f.name) for f in dataclasses.fields(self.timing)}

    @property
    def time_grades(self) -> list[str]:
        return grades_of(self.time_constants.values())

    @property
    def time_assumptions(self) -> list[str]:
        return [name for name, q in self.time_constants.items() if "assumption" in q.grades]

    def wall_steps(self) -> list[tuple[str, int, StepTime]]:
        """Every wall step as (schedule, index, step): one sample alone, then the streamed steady state."""
        time = self.result.time
        if time is None:
            return []
        return [("alone", k, s) for k, s in enumerate(time.alone)] + [("stream", k, s) for k, s in enumerate(time.stream)]

    @property
    def latency_bound(self) -> ChipTime | None:
        """The time from each core's per-sample maxima: an upper bound for any sample (None when given)."""
        return None if self.time_given else self.result.time_bound


def priced_report(inputs: EnergyInputs, models: list[CostModel], sources: EnergySources, *,
                  routing: Routing = "geometric", timestep_us: float | None = None) -> Report:
    """Price the run under every cost model (enof.runtime.energy.price) and hold it as the report shows it."""
    result = compute_energy(inputs, models, routing=routing, timestep_us=timestep_us)
    return Report(result, sources, inputs.timing, inputs.module_paths)
