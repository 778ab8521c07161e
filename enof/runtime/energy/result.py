"""What the energy model returns: per layer, per core and per cost model, in pJ per inference (docs/energy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from enof.formats.run_result import HostCost
from enof.hardware_profiles import CostModel
from enof.runtime.energy.routing import CoreRoute, Routing
from enof.runtime.energy.timing import ChipTime

J_PER_PJ = 1e-12


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

    @property
    def chip_pj(self) -> float:
        return self.chip_dynamic_pj + (self.static_pj or 0.0)

    @property
    def host_pj(self) -> float:
        return (self.host_compute_pj or 0.0) + (self.host_io_pj or 0.0)

    @property
    def total_pj(self) -> float:
        return self.chip_pj + self.host_pj

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
