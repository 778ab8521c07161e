"""What the energy model returns: per layer, per core and per cost model, in pJ per inference (docs/energy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from enof.formats.run_result import HostCost
from enof.hardware_profiles import CostModel, Quantity, grades_of
from enof.runtime.energy.routing import CoreRoute, Routing
from enof.runtime.energy.timing import ChipTime

J_PER_PJ = 1e-12
PJ_PER_J = 1e12


@dataclass(frozen=True)
class HostLayer:
    """A layer of host_in.onnx or host_out.onnx (the manifest's partition) and its MACs per inference (0: ReLU, pool)."""

    name: str
    where: Literal["host_in", "host_out"]
    macs: int


@dataclass(frozen=True)
class Parts:
    """Energy of a layer or core per inference by what spends it; None where the model has no price."""

    synops_pj: float | None
    neuron_updates_pj: float | None
    routing_pj: float | None

    @property
    def total_pj(self) -> float:
        return (self.synops_pj or 0.0) + (self.neuron_updates_pj or 0.0) + (self.routing_pj or 0.0)

    @property
    def priced(self) -> bool:
        return any(p is not None for p in (self.synops_pj, self.neuron_updates_pj, self.routing_pj))

    @property
    def priced_total_pj(self) -> float | None:
        """total_pj where the model prices any part of it, else None (the report's "—")."""
        return self.total_pj if self.priced else None


@dataclass(frozen=True)
class LayerStats:
    """What a chip layer does per inference, independent of any cost model."""

    name: str
    fed_by: tuple[str, ...]  # the weight layers whose synapses feed it
    neurons: int
    cores: int
    spikes: float  # per inference
    synops: float  # per inference, arriving at this layer's neurons
    firing_rate: float  # spikes per neuron per timestep
    graded_input: bool  # fed by graded (non-binary) input events
    ann_macs: int  # synapses into this layer: MACs of one ANN step


@dataclass(frozen=True)
class CoreStats:
    core_id: int
    layer: str
    chip: int
    tile: int
    neurons: int
    spikes: float  # per inference
    synops: float  # per inference
    firing_rate: float
    route: CoreRoute


@dataclass(frozen=True)
class ModelEnergy:
    """One cost model's prices of the run, per inference, in pJ."""

    model: CostModel
    layers: dict[str, Parts]
    cores: dict[int, Parts]
    static_pj: float | None
    static_s: float | None  # the chip time per inference static power was charged for
    host_compute_pj: float | None
    host_layers_pj: dict[str, float] | None  # host_compute_pj per host layer (EnergyInputs.host_layers)
    host_io_pj: float | None
    ann_pj: float | None  # the same network as a 1-step ANN on this model's ann_device
    not_priced: tuple[str, ...]  # parts of the run this model has no constant for

    @property
    def chip_dynamic_pj(self) -> float:
        return sum(p.total_pj for p in self.layers.values())

    def host_layer_pj(self, name: str) -> float | None:
        """A host layer's part of host_compute_pj; None where the host's compute is not priced per layer."""
        return None if self.host_layers_pj is None else self.host_layers_pj[name]

    @property
    def priced_chip_dynamic_pj(self) -> float | None:
        """chip_dynamic_pj where the model prices any layer, else None."""
        return self.chip_dynamic_pj if any(p.priced for p in self.layers.values()) else None

    def share_of_chip(self, parts: Parts) -> float | None:
        """A layer's or core's share of the chip's dynamic energy under this model; None where it is not priced."""
        whole = self.chip_dynamic_pj
        return parts.total_pj / whole if parts.priced and whole > 0 else None

    @property
    def chip_pj(self) -> float:
        return self.chip_dynamic_pj + (self.static_pj or 0.0)

    @property
    def host_pj(self) -> float:
        return (self.host_compute_pj or 0.0) + (self.host_io_pj or 0.0)

    @property
    def priced_host_pj(self) -> float | None:
        """host_pj where the model prices the host's compute or its I/O, else None."""
        return None if self.host_compute_pj is None and self.host_io_pj is None else self.host_pj

    @property
    def total_pj(self) -> float:
        return self.chip_pj + self.host_pj

    def edp_js(self, time: ChipTime | None) -> float | None:
        """Energy-delay product of one inference (J·s): the total at the latency of one sample alone."""
        return None if time is None else self.total_pj / PJ_PER_J * time.latency_s

    @property
    def unpriced_chip_parts(self) -> int:
        """How many parts of the chip (not the host) this model has no constant for: the default model has fewest."""
        return sum(1 for p in self.not_priced if not p.startswith("host"))

    @property
    def constants(self) -> dict[str, Quantity]:
        """The model's sourced numbers (the ANN device is a label, not a number)."""
        return {k: q for k, q in self.model.quantities().items() if k != "ann_device"}

    @property
    def energy_grades(self) -> list[str]:
        """The grades of every entry of the model, the ANN device's included (the headline's)."""
        return grades_of(self.model.quantities().values())

    @property
    def constant_grades(self) -> list[str]:
        """The grades of the model's constants (the totals table's)."""
        return sorted({g.strip() for q in self.constants.values() for g in q.grade.split(",") if g.strip()})

    @property
    def ann_device(self) -> str:
        return "" if self.model.ann_device is None else str(self.model.ann_device.value)

    @property
    def static_note(self) -> str:
        """Why static energy is not priced, in words: what the model's source leaves out about it, else what
        this run lacks to price it ("" when it is priced)."""
        if self.static_pj is not None:
            return ""
        said = [p for p in (*self.model.leaves_out, *self.not_priced) if p.startswith("static") and p != "static power"]
        return said[0] if said else "this cost model has no static power figure"

    @property
    def ann_over_snn(self) -> float | None:
        """How many times the 1-step ANN's energy exceeds the T-step SNN's (the ratio SNN papers quote)."""
        if self.ann_pj is None or self.total_pj <= 0:
            return None
        return self.ann_pj / self.total_pj

    @property
    def ann_latency_s(self) -> float | None:
        """The 1-step ANN's time on this model's ann_device: its energy at the device's power (ann_power_w)."""
        power = self.model.ann_power_w
        if self.ann_pj is None or power is None:
            return None
        return self.ann_pj * J_PER_PJ / float(power.value)

    @property
    def ann_edp_js(self) -> float | None:
        return None if self.ann_latency_s is None else self.ann_pj / PJ_PER_J * self.ann_latency_s

    @property
    def ann_time_grades(self) -> list[str]:
        return [] if self.model.ann_power_w is None else grades_of([self.model.ann_power_w])


@dataclass(frozen=True)
class EnergyResult:
    timesteps: int
    samples: int
    routing: Routing
    timestep_us: float | None  # --timestep-us: the step time was given, not modeled
    time: ChipTime | None  # the chip's time per inference (typical counts); None: not modeled
    time_bound: ChipTime | None  # the same from each core's per-sample maxima: an upper bound for any sample
    chips_used: int
    layers: tuple[LayerStats, ...]
    cores: tuple[CoreStats, ...]
    host: HostCost
    host_layers: tuple[HostLayer, ...]
    ann_macs: int  # chip synapses + ann_host_macs: one inference of the same network as an ANN
    ann_host_macs: int
    models: tuple[ModelEnergy, ...]
