"""Energy of one inference: a run's counts priced by a profile's cost models (docs/energy.md).

Pure functions over typed dataclasses. Inputs: the run's counts (per layer and per core, totals
over all samples and timesteps, docs/design.md §7), the bundle's placement (§5), the chip's
connectivity (which layer feeds which, with conv geometry) and the profile's cost models (§4).
Every energy is in pJ per inference (totals divided by the number of samples).

Choices the counts force on us (stated in the report):
- run.json does not tell active from inactive neuron updates: an update at a step where the neuron
  spiked is charged as active, every other update as inactive (a lower bound on active updates).
- Synaptic ops are charged to the layer whose neurons receive them, spike routing to the layer
  that sends the spike (energy_routing.py says where spikes go).
- Events entering from the host (graded input, binary input spikes, input current) and spikes leaving
  to the host are host<->chip bytes, not mesh traffic; their synaptic ops are charged to the first layer.
- A model prices what it has constants for; the parts it has none for are listed as not priced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from enof.errors import ProfileError, RunResultError
from enof.formats.placement import PlacedCore
from enof.formats.run_result import CoreActivity, CoreSteps, HostCost, LayerActivity
from enof.hardware_profiles import CostModel, TimingSection
from enof.runtime.energy.result import PJ_PER_J, CoreStats, EnergyResult, HostLayer, LayerStats, ModelEnergy, Parts
from enof.runtime.energy.routing import (
    INPUT,
    CoreRoute,
    MeshGeometry,
    Routing,
    route_cores,
    synapse_count,
)
from enof.runtime.energy.timing import ChipTime, CoreTimingInputs, chip_time, longest_routes_ns
from enof.synapses import Connection

S_PER_US = 1e-6

# Constants that are priced together: a model gives all of a group or none of it.
CONSTANT_GROUPS = {
    "neuron updates": ("neuron_update_active_pj", "neuron_update_inactive_pj"),
    "spike routing": ("spike_within_tile_pj", "hop_ew_pj", "hop_ns_pj"),
}
# Dynamic chip energy is priced from synaptic ops up: a model with these needs synop_pj.
NEEDS_SYNOPS = ("neuron_update_active_pj", "spike_within_tile_pj", "graded_synop_pj")


def price(model: CostModel, constant: str) -> float | None:
    """The value of a cost model's constant (pJ; W for static_power_w, µs for timestep_us); None if absent.

    ``graded_synop_pj`` (graded input events, a multiply per synapse) is read if the schema has it.
    """
    quantity = getattr(model, constant, None)
    return None if quantity is None else float(quantity.value)


@dataclass(frozen=True)
class EnergyInputs:
    """Everything the energy model reads, checked for consistency at construction."""

    timesteps: int
    samples: int
    input_mode: Literal["graded", "spikes", "current"]  # formats.manifest.INPUT_MODES
    layers: tuple[LayerActivity, ...]
    cores: tuple[CoreActivity, ...]
    host: HostCost
    placement: tuple[PlacedCore, ...]
    projections: tuple[Connection, ...]  # every synapse of the chip, with its source and target names
    mesh: MeshGeometry
    # Host MACs of the network as a 1-step ANN; None: the run's host MACs (right when no host layer
    # runs per timestep). With RepAct the host-out layers run T times in the SNN but once in the ANN.
    ann_host_macs: int | None = None
    # per LIF layer, the weight layers whose synapses feed it (what a user prunes to save that layer's energy)
    fed_by: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the host's layers; their MACs sum to host.host_in_macs + host.host_out_macs (empty if not known per layer)
    host_layers: tuple[HostLayer, ...] = ()
    per_step: tuple[CoreSteps, ...] = ()  # run.json's per_step, one per core
    depths: dict[str, int] = field(default_factory=dict)  # synaptic depth of each chip layer (first = 1)
    timing: TimingSection | None = None  # the profile's [timing]; None: time is not modeled
    # event frames cross the host link every step; a static image once per sample (run.host_cost)
    input_temporal: bool = False
    # the manifest's module_paths (enof layer name -> the user's module path or NIR node): names the report shows
    module_paths: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.samples <= 0 or self.timesteps <= 0:
            raise RunResultError(f"run.json: samples ({self.samples}) and timesteps ({self.timesteps}) must be > 0")
        placed = {c.core_id: c for c in self.placement}
        layer_names = {layer.name for layer in self.layers}
        for core in self.cores:
            where = placed.get(core.core_id)
            if where is None:
                raise RunResultError(f"run.json: core {core.core_id} is not in placement.json")
            if where.layer != core.layer:
                raise RunResultError(
                    f"run.json: core {core.core_id} holds layer {core.layer!r}, placement.json says {where.layer!r}"
                )
        for layer in self.layers:
            mine = [c for c in self.cores if c.layer == layer.name]
            if not mine and any(c.layer == layer.name for c in self.placement):
                raise RunResultError(f"run.json: no per-core counts for layer {layer.name!r}, which placement.json puts on cores")
            for what in ("spikes", "synops", "neuron_updates"):
                total = sum(getattr(c, what) for c in mine)
                if mine and total != getattr(layer, what):
                    raise RunResultError(
                        f"run.json: layer {layer.name!r} {what} {getattr(layer, what)} != {total} summed over its cores"
                    )
        for proj in self.projections:
            if proj.target not in layer_names or proj.source not in layer_names | {INPUT}:
                raise RunResultError(f"run.json has no layer for projection {proj.source!r} -> {proj.target!r}")
        unknown = sorted(set(self.fed_by) - layer_names)
        if unknown:
            raise RunResultError(f"run.json has no layer {unknown[0]!r}, which the bundle's weight layers feed")


def check_cost_model(model: CostModel, profile: str) -> None:
    """Raise ProfileError naming profile, model and constant if the model lacks a constant it needs.

    A model needs every constant of a group it uses (CONSTANT_GROUPS), and synop_pj if it prices
    any other dynamic chip energy. A model may price only some parts (e.g. static power alone).
    """
    for group, constants in CONSTANT_GROUPS.items():
        present = [c for c in constants if price(model, c) is not None]
        if present and len(present) != len(constants):
            missing = next(c for c in constants if price(model, c) is None)
            raise ProfileError(
                f"profile {profile}: cost model {model.name!r} lacks {missing} (needed with {present[0]} to price {group})"
            )
    uses = [c for c in NEEDS_SYNOPS if price(model, c) is not None]
    if uses and price(model, "synop_pj") is None:
        raise ProfileError(f"profile {profile}: cost model {model.name!r} lacks synop_pj (needed with {uses[0]})")


def compute_energy(
    inputs: EnergyInputs,
    models: list[CostModel],
    routing: Routing = "geometric",
    timestep_us: float | None = None,
    replay: bool = False,
) -> EnergyResult:
    """Price one inference of the run under every cost model (models must pass check_cost_model)."""
    routes = route_cores(
        list(inputs.placement), {layer.name: layer.neurons for layer in inputs.layers},
        list(inputs.projections), inputs.mesh, routing,
    )
    layers = _layer_activity(inputs)
    cores = _core_activity(inputs, routes)
    chips_used = len({c.chip for c in inputs.placement})
    times = _chip_times(inputs, routes, timestep_us, replay)
    host_macs = inputs.host.host_in_macs + inputs.host.host_out_macs
    ann_host_macs = host_macs if inputs.ann_host_macs is None else inputs.ann_host_macs
    ann_macs = sum(a.ann_macs for a in layers) + ann_host_macs
    priced = tuple(_price(inputs, model, layers, cores, chips_used, ann_macs, times[0]) for model in models)
    return EnergyResult(
        timesteps=inputs.timesteps,
        samples=inputs.samples,
        routing=routing,
        timestep_us=timestep_us,
        time=times[0],
        time_bound=times[1],
        chips_used=chips_used,
        layers=layers,
        cores=cores,
        host=inputs.host,
        host_layers=inputs.host_layers,
        ann_macs=ann_macs,
        ann_host_macs=ann_host_macs,
        models=priced,
    )


def _chip_times(inputs: EnergyInputs, routes: dict[int, CoreRoute], timestep_us: float | None, replay: bool = False,
                ) -> tuple[ChipTime | None, ChipTime | None]:
    """The chip's time per inference from the per-step counts (typical, and the bound from per-sample maxima), or
    from the given step time (--timestep-us); (None, None) when the profile models no time and none is given."""
    if inputs.timing is None and timestep_us is None:
        return None, None
    longest = (longest_routes_ns(routes, list(inputs.placement), inputs.mesh, inputs.timing)
               if inputs.timing is not None else {})
    cores = [CoreTimingInputs(c.core_id, c.layer, inputs.depths.get(c.layer, 1), c.neurons, (c.chip, c.x, c.y),
                              longest.get(c.core_id, 0.0)) for c in inputs.placement]  # fmt: skip
    return tuple(
        chip_time(cores, list(inputs.per_step), inputs.samples, inputs.timesteps, inputs.host, inputs.timing, counts,
                  given_step_us=timestep_us, replay=replay, input_every_step=inputs.input_temporal)
        for counts in ("mean", "max")
    )  # fmt: skip


def _graded_layers(inputs: EnergyInputs) -> set[str]:
    if inputs.input_mode != "graded":
        return set()
    return {p.target for p in inputs.projections if p.source == INPUT and p.kind != "current"}


def _layer_activity(inputs: EnergyInputs) -> tuple[LayerStats, ...]:
    graded = _graded_layers(inputs)
    n = inputs.samples
    return tuple(
        LayerStats(
            name=layer.name,
            fed_by=tuple(inputs.fed_by.get(layer.name, ())),
            neurons=layer.neurons,
            cores=sum(1 for c in inputs.placement if c.layer == layer.name),
            spikes=layer.spikes / n,
            synops=layer.synops / n,
            firing_rate=layer.spikes / layer.neuron_updates if layer.neuron_updates else 0.0,
            graded_input=layer.name in graded,
            ann_macs=sum(synapse_count(p) for p in inputs.projections if p.target == layer.name),
        )
        for layer in inputs.layers
    )


def _core_activity(inputs: EnergyInputs, routes: dict[int, CoreRoute]) -> tuple[CoreStats, ...]:
    counts = {c.core_id: c for c in inputs.cores}
    out = []
    for core in inputs.placement:
        c = counts.get(core.core_id)
        if c is None:
            continue  # a placed core of a layer the run did not record
        out.append(
            CoreStats(
                core_id=core.core_id,
                layer=core.layer,
                chip=core.chip,
                tile=core.tile,
                neurons=core.neuron_stop - core.neuron_start,
                spikes=c.spikes / inputs.samples,
                synops=c.synops / inputs.samples,
                firing_rate=c.spikes / c.neuron_updates if c.neuron_updates else 0.0,
                route=routes[core.core_id],
            )
        )
    return tuple(out)


def _parts(
    model: CostModel, spikes: float, synops: float, updates: float, graded: bool, route: CoreRoute | None
) -> Parts:
    """Energy of ``spikes``, ``synops`` and ``updates`` (per inference) under ``model``."""
    synop_pj = price(model, "synop_pj")
    if graded and price(model, "graded_synop_pj") is not None:
        synop_pj = price(model, "graded_synop_pj")
    active, inactive = price(model, "neuron_update_active_pj"), price(model, "neuron_update_inactive_pj")
    updates_pj = None if active is None else spikes * active + (updates - spikes) * inactive
    routing_pj = None
    if price(model, "spike_within_tile_pj") is not None and route is not None:
        per_spike = (
            route.messages_per_spike * price(model, "spike_within_tile_pj")
            + route.hops_ew_per_spike * price(model, "hop_ew_pj")
            + route.hops_ns_per_spike * price(model, "hop_ns_pj")
        )
        routing_pj = spikes * per_spike
    return Parts(None if synop_pj is None else synops * synop_pj, updates_pj, routing_pj)


def _price(
    inputs: EnergyInputs,
    model: CostModel,
    layers: tuple[LayerStats, ...],
    cores: tuple[CoreStats, ...],
    chips_used: int,
    ann_macs: int,
    time: ChipTime | None,
) -> ModelEnergy:
    n = inputs.samples
    updates = {layer.name: layer.neuron_updates / n for layer in inputs.layers}
    core_updates = {c.core_id: c.neuron_updates / n for c in inputs.cores}
    core_parts = {
        c.core_id: _parts(model, c.spikes, c.synops, core_updates[c.core_id], _is_graded(layers, c.layer), c.route)
        for c in cores
    }
    layer_parts = {}
    for a in layers:
        mine = [core_parts[c.core_id] for c in cores if c.layer == a.name]
        routing = None if any(p.routing_pj is None for p in mine) else sum(p.routing_pj for p in mine)
        base = _parts(model, a.spikes, a.synops, updates[a.name], a.graded_input, None)
        layer_parts[a.name] = Parts(base.synops_pj, base.neuron_updates_pj, routing)

    not_priced = []
    if price(model, "synop_pj") is None:
        not_priced.append("synaptic ops")
    if price(model, "neuron_update_active_pj") is None:
        not_priced.append("neuron updates")
    if price(model, "spike_within_tile_pj") is None:
        not_priced.append("spike routing")
    static_pj, static_s = None, None
    if price(model, "static_power_w") is None:
        not_priced.append("static power")
    elif time is not None:  # the chip's time per inference, streamed: 1 / inferences per second
        static_s = time.period_s
    elif price(model, "timestep_us") is not None:  # a profile without [timing] whose model states a step time
        static_s = inputs.timesteps * price(model, "timestep_us") * S_PER_US
    else:
        not_priced.append("static power (the profile has no [timing] to model the time: give --timestep-us)")
    if static_s is not None:
        static_pj = price(model, "static_power_w") * chips_used * static_s * PJ_PER_J
    host_macs = inputs.host.host_in_macs + inputs.host.host_out_macs
    host_bytes = inputs.host.bytes_host_to_chip + inputs.host.bytes_chip_to_host
    host_compute_pj = None if price(model, "host_mac_pj") is None else host_macs * price(model, "host_mac_pj")
    if host_compute_pj is None and host_macs:
        not_priced.append("host MACs")
    host_io_pj = None if price(model, "host_byte_pj") is None else host_bytes * price(model, "host_byte_pj")
    if host_io_pj is None and host_bytes:
        not_priced.append("host<->chip bytes")
    return ModelEnergy(
        model=model,
        layers=layer_parts,
        cores=core_parts,
        static_pj=static_pj,
        static_s=static_s,
        host_layers_pj=None if host_compute_pj is None else {
            h.name: h.macs * price(model, "host_mac_pj") for h in inputs.host_layers},
        host_compute_pj=host_compute_pj,
        host_io_pj=host_io_pj,
        ann_pj=None if price(model, "ann_mac_pj") is None else ann_macs * price(model, "ann_mac_pj"),
        not_priced=tuple(not_priced),
    )


def _is_graded(layers: tuple[LayerStats, ...], name: str) -> bool:
    return any(a.graded_input for a in layers if a.name == name)
