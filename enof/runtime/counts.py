"""Activity counts per layer and per core from per-neuron spike counts (shared by both backends).

``synops`` of a neuron = synaptic events arriving at it = Σ over its incoming synapses of
(presynaptic events × 1 per connection): ``enof.synapses.fan_in_events`` of each synapse's kind
(conv: the events of the receptive field, all input channels; dense: all events), exact int64.
Graded input and currents count each non-zero value as an event (docs/design.md §7).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from enof.errors import RunError
from enof.formats.placement import PlacedCore, core_neuron_indices
from enof.formats.run_result import CoreActivity, LayerActivity
from enof.synapses import fan_in_events
from enof.runtime.program import INPUT, ChipProgram


@dataclass(frozen=True)
class Activity:
    """Totals over all samples and timesteps."""

    layers: list[LayerActivity]
    cores: list[CoreActivity]


def synops_per_neuron(
    program: ChipProgram, spike_counts: dict[str, np.ndarray], input_nonzero: np.ndarray
) -> dict[str, np.ndarray]:
    """Per LIF, int64 (its shape): synaptic events that arrived at each neuron."""
    result = {}
    for name, layer in program.layers.items():
        total = np.zeros(layer.shape, dtype=np.int64)
        for syn in program.incoming(name):
            pre = input_nonzero if syn.source == INPUT else spike_counts[syn.source]
            total += fan_in_events(syn.connection, pre)
        result[name] = total
    return result


def count_activity(
    program: ChipProgram,
    spike_counts: dict[str, np.ndarray],
    input_nonzero: np.ndarray,
    samples: int,
    cores: Sequence[PlacedCore] = (),
) -> Activity:
    """Per layer and per core (a Placement's cores: ``layer``, ``neuron_start``, ``neuron_stop``) totals."""
    synops = synops_per_neuron(program, spike_counts, input_nonzero)
    steps = program.timesteps * samples
    per_core = []
    for core in cores:
        layer, start, stop = core.layer, core.neuron_start, core.neuron_stop
        if layer not in program.layers:
            raise RunError(f"placement core {core.core_id}: layer {layer!r} is not a chip LIF layer")
        if not 0 <= start < stop <= program.layers[layer].neurons:
            raise RunError(
                f"placement core {core.core_id}: neurons [{start}, {stop}) outside layer {layer!r} "
                f"of {program.layers[layer].neurons} neurons"
            )
        held = core_neuron_indices(core, program.layers[layer].shape)
        per_core.append(
            CoreActivity(
                core_id=core.core_id, layer=layer,
                spikes=int(np.asarray(spike_counts[layer]).reshape(-1)[held].sum()),
                synops=int(synops[layer].reshape(-1)[held].sum()), neuron_updates=(stop - start) * steps,
            )
        )  # fmt: skip
    layers = [
        LayerActivity(
            name=name, neurons=layer.neurons, cores=sum(1 for c in per_core if c.layer == name),
            spikes=int(np.asarray(spike_counts[name]).sum()), synops=int(synops[name].sum()),
            neuron_updates=layer.neurons * steps,
        )
        for name, layer in program.layers.items()
    ]  # fmt: skip
    return Activity(layers=layers, cores=per_core)
