"""Activity counts per layer and per core from per-neuron spike counts (shared by both backends).

``synops`` of a neuron = synaptic events arriving at it = Σ over its incoming synapses of
(presynaptic events × 1 per connection). It is linear in the presynaptic counts, so the per-neuron
synops of a conv are ``conv(pre_count_map, ones-kernel)`` and of a dense layer ``ones @ pre_counts``:
exact integers (float64 sums of integers below 2^53). Graded input and currents count each non-zero
value as an event (docs/design.md §7).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from enof.errors import RunError
from enof.formats.placement import core_neuron_indices
from enof.formats.run_result import CoreActivity, LayerActivity
from enof.runtime.program import INPUT, ChipProgram

FLOAT64_EXACT = 2**53


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
            pre = np.asarray(pre, dtype=np.int64)
            if syn.kind == "current":
                arriving = pre.reshape(layer.shape)
            elif syn.kind == "conv":
                arriving = _conv_fan_in_events(pre, syn.weight.shape, syn.stride, syn.padding, syn.name)
            else:
                arriving = np.full(layer.shape, int(pre.sum()), dtype=np.int64)  # every input reaches every output
            total += arriving.reshape(layer.shape)
        result[name] = total
    return result


def _conv_fan_in_events(pre: np.ndarray, weight_shape, stride, padding, name: str) -> np.ndarray:
    if int(pre.sum()) * int(np.prod(weight_shape[1:])) >= FLOAT64_EXACT:
        raise RunError(f"{name}: event counts too large to count exactly in float64")
    ones = torch.ones(tuple(weight_shape), dtype=torch.float64)
    counts = torch.from_numpy(pre.astype(np.float64))[None]
    out = F.conv2d(counts, ones, stride=tuple(stride), padding=tuple(padding))[0]
    return np.rint(out.numpy()).astype(np.int64)


def count_activity(
    program: ChipProgram,
    spike_counts: dict[str, np.ndarray],
    input_nonzero: np.ndarray,
    samples: int,
    placement: dict | None = None,
) -> Activity:
    """Per layer and per core (placement.json ``cores``: ``layer``, ``neuron_start``, ``neuron_stop``) totals."""
    synops = synops_per_neuron(program, spike_counts, input_nonzero)
    steps = program.timesteps * samples
    cores = []
    for core in (placement or {}).get("cores", []):
        layer = core["layer"]
        if layer not in program.layers:
            raise RunError(f"placement core {core['core_id']}: layer {layer!r} is not a chip LIF layer")
        start, stop = int(core["neuron_start"]), int(core["neuron_stop"])
        if not 0 <= start < stop <= program.layers[layer].neurons:
            raise RunError(
                f"placement core {core['core_id']}: neurons [{start}, {stop}) outside layer {layer!r} "
                f"of {program.layers[layer].neurons} neurons"
            )
        cores.append(
            CoreActivity(
                core_id=int(core["core_id"]), layer=layer,
                spikes=int(np.asarray(spike_counts[layer]).reshape(-1)[core_neuron_indices(core, program.layers[layer].shape)].sum()),
                synops=int(synops[layer].reshape(-1)[core_neuron_indices(core, program.layers[layer].shape)].sum()),
                neuron_updates=(stop - start) * steps,
            )
        )  # fmt: skip
    layers = [
        LayerActivity(
            name=name, neurons=layer.neurons, cores=sum(1 for c in cores if c.layer == name),
            spikes=int(np.asarray(spike_counts[name]).sum()), synops=int(synops[name].sum()),
            neuron_updates=layer.neurons * steps,
        )
        for name, layer in program.layers.items()
    ]  # fmt: skip
    return Activity(layers=layers, cores=cores)
