"""The built-in simulator: a ChipProgram on a batch, in aligned time, one vectorized pass per timestep."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from enof.errors import RunError
from enof.runtime.fast.fixed_point import effective_bias, lif_fixed_step, wrap_int32
from enof.runtime.fast.float_point import lif_float_step
from enof.runtime.fast.synapses import INT32_LIMIT, SynapseOp, build_fixed_op, build_float_op
from enof.runtime.program import INPUT, ChipProgram, ChipRun

Precision = Literal["fixed", "float"]


def simulate(
    program: ChipProgram, x: np.ndarray, precision: Precision = "fixed", record_spikes: bool = False
) -> ChipRun:
    """Run ``program`` on x (B, *input_shape) float for ``program.timesteps`` steps.

    Aligned time: a LIF spikes at step t from its inputs at step t. The input is constant over time.
    fixed: integer arithmetic of Lava's fixed_pt models; float: the trained float network.
    """
    x = np.asarray(x)
    if tuple(x.shape[1:]) != tuple(program.input_shape):
        raise RunError(f"input shape {tuple(x.shape[1:])} does not match the chip input {program.input_shape}")
    if precision not in ("fixed", "float"):
        raise RunError(f"unknown precision {precision!r} (fixed|float)")
    batch, steps = x.shape[0], program.timesteps
    if precision == "fixed":
        x_int = program.quantize_input(x)
        source = torch.from_numpy(x_int.astype(np.float64))  # integers, exact in float64
        ops = _fixed_ops(program, int(np.abs(x_int).max(initial=0)))
    else:
        source = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        ops = {syn.name: build_float_op(syn) for syn in program.synapses}
    input_nonzero = (source != 0).sum(0).to(torch.int64) * steps

    step = _fixed_layer_steps(program, ops, batch) if precision == "fixed" else _float_layer_steps(program, ops, batch)
    counts = {name: torch.zeros(layer.shape, dtype=torch.int64) for name, layer in program.layers.items()}
    outputs = {name: np.zeros((steps, batch, *program.layers[name].shape), np.float32) for name in program.outputs}
    recorded = (
        {name: np.zeros((steps, batch, *layer.shape), np.uint8) for name, layer in program.layers.items()}
        if record_spikes
        else None
    )
    for t in range(steps):
        values = {INPUT: source}
        for name in program.layers:
            spikes = step[name](values)
            values[name] = spikes
            counts[name] += spikes.sum(0, dtype=torch.int64)
            if name in outputs:
                outputs[name][t] = spikes.numpy()
            if recorded is not None:
                recorded[name][t] = spikes.numpy()
    return ChipRun(
        outputs=outputs,
        spike_counts={name: c.numpy() for name, c in counts.items()},
        input_nonzero=input_nonzero.numpy(),
        spikes=recorded,
    )


def _fixed_ops(program: ChipProgram, input_bound: int) -> dict[str, SynapseOp]:
    # Spikes of a LIF are binary; the input (graded payloads or currents) carries integers.
    return {
        syn.name: build_fixed_op(syn, input_bound if syn.source == INPUT else 1, graded=syn.source == INPUT)
        for syn in program.synapses
    }


def _fixed_layer_steps(program: ChipProgram, ops: dict[str, SynapseOp], batch: int):
    """Per LIF a closure holding (u, v) that maps this step's source values to float32 0/1 spikes."""
    steps = {}
    for name, layer in program.layers.items():
        incoming = [ops[s.name] for s in program.incoming(name)]
        bias = torch.from_numpy(effective_bias(layer.bias_mant, layer.bias_exp).astype(np.float64))
        state = {
            "u": torch.zeros((batch, *layer.shape), dtype=torch.float64),
            "v": torch.zeros((batch, *layer.shape), dtype=torch.float64),
        }
        # In-port sum of several activations is int32 (wraps) only if the bounds allow it.
        needs_wrap = sum(op.bound for op in incoming) >= INT32_LIMIT

        def step(values, layer=layer, incoming=incoming, bias=bias, state=state, needs_wrap=needs_wrap):
            a_in = sum(op.apply(values[op.synapse.source]).reshape(batch, *layer.shape) for op in incoming)
            if needs_wrap:
                a_in = wrap_int32(a_in)
            state["u"], state["v"], spikes = lif_fixed_step(
                state["u"], state["v"], a_in, du=layer.du, dv=layer.dv, vth=layer.vth, bias=bias
            )
            return spikes.to(torch.float32)

        steps[name] = step
    return steps


def _float_layer_steps(program: ChipProgram, ops: dict[str, SynapseOp], batch: int):
    steps = {}
    for name, layer in program.layers.items():
        incoming = [ops[s.name] for s in program.incoming(name)]
        bias = torch.from_numpy(np.asarray(layer.bias_float, dtype=np.float32))
        state = {"v": torch.zeros((batch, *layer.shape), dtype=torch.float32)}

        def step(values, layer=layer, incoming=incoming, bias=bias, state=state):
            current = sum(op.apply(values[op.synapse.source]).reshape(batch, *layer.shape) for op in incoming)
            state["v"], spikes = lif_float_step(
                state["v"], current, decay=layer.decay, v_threshold=layer.v_threshold, bias=bias
            )
            return spikes.to(torch.float32)

        steps[name] = step
    return steps
