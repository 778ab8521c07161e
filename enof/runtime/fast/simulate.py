"""The built-in simulator: a ChipProgram on a batch, in aligned time, one vectorized pass per timestep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import torch

from enof.errors import RunError
from enof.lava_arithmetic import (
    FLOAT32_EXACT,
    INT32_LIMIT,
    effective_bias,
    lif_fixed_step,
    lif_fixed_step_no_wrap,
    no_wrap_a_in_limit,
    no_wrap_applies,
    no_wrap_dtype,
    wrap_int32,
)
from enof.runtime.fast.device import exact_arithmetic
from enof.runtime.fast.float_point import lif_float_step
from enof.runtime.fast.synapses import SynapseOp, build_fixed_op, build_float_op
from enof.runtime.program import INPUT, ChipProgram, ChipRun

Precision = Literal["fixed", "float"]
OnStep = Callable[[int, dict[str, np.ndarray], np.ndarray], None]


def simulate(
    program: ChipProgram, x: np.ndarray, precision: Precision = "fixed", record_spikes: bool = False,
    device: torch.device | str = "cpu", on_step: OnStep | None = None,
) -> ChipRun:
    """Run ``program`` on x (B, *program.sample_shape) float for ``program.timesteps`` steps on ``device``.

    Aligned time: a LIF spikes at step t from its inputs at step t. Static input is the same at every
    step (the input synapses are computed once); temporal input x[:, t] is step t's frame.
    fixed: integer arithmetic of Lava's fixed_pt models, bit for bit the same on CUDA as on the CPU
    (device.py says why); float: the trained float network. Returns numpy arrays whatever the device.
    ``on_step(t, spikes, input_events)`` is called after each step with every layer's spikes (B, *shape) and the
    input's non-zero values (B, *input_shape) as numpy: run.json's per-step counts, without keeping a raster.
    """
    device = torch.device(device)
    with exact_arithmetic(device, fixed_point=precision == "fixed"):
        return _simulate(program, x, precision, record_spikes, device, on_step)


def _simulate(program: ChipProgram, x: np.ndarray, precision: Precision, record_spikes: bool,
              device: torch.device, on_step: OnStep | None) -> ChipRun:
    x = np.asarray(x)
    if tuple(x.shape[1:]) != program.sample_shape:
        raise RunError(f"input shape {tuple(x.shape[1:])} does not match the chip input {program.sample_shape}")
    if precision not in ("fixed", "float"):
        raise RunError(f"unknown precision {precision!r} (fixed|float)")
    batch, steps = x.shape[0], program.timesteps
    if precision == "fixed":
        x_int = program.quantize_input(x)
        # Integers, exact in float32 below 2^24 (else float64).
        source = torch.from_numpy(x_int.astype(np.float32 if np.abs(x_int).max(initial=0) < FLOAT32_EXACT else np.float64))
        ops = _fixed_ops(program, int(np.abs(x_int).max(initial=0)), device)
    else:
        source = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        ops = {syn.name: build_float_op(syn, device) for syn in program.synapses}
    input_nonzero = program.input_nonzero(source.numpy())
    events_by_step = source.numpy() != 0 if on_step is not None else None
    source = source.to(device)
    if not program.input_temporal:
        ops = {name: _constant_if_from_input(op) for name, op in ops.items()}

    layer_steps = _fixed_layer_steps if precision == "fixed" else _float_layer_steps
    step = layer_steps(program, ops, batch, device)
    # Summed over time as float32 (exact while T·(count) < 2^24 per element), over the batch at the end.
    summed = {name: torch.zeros((batch, *layer.shape), dtype=torch.float32, device=device)
              for name, layer in program.layers.items()}  # fmt: skip
    outputs = {name: np.zeros((steps, batch, *program.layers[name].shape), np.float32) for name in program.outputs}
    recorded = (
        {name: np.zeros((steps, batch, *layer.shape), np.uint8) for name, layer in program.layers.items()}
        if record_spikes
        else None
    )
    for t in range(steps):
        values = {INPUT: source[:, t] if program.input_temporal else source}
        for name in program.layers:
            spikes = step[name](values)
            values[name] = spikes
            summed[name] += spikes
            if name in outputs:
                outputs[name][t] = spikes.cpu().numpy()  # .cpu() is the tensor itself on the CPU
            if recorded is not None:
                recorded[name][t] = spikes.cpu().numpy()
        if on_step is not None:
            events = events_by_step[:, t] if program.input_temporal else events_by_step
            on_step(t, {name: values[name].cpu().numpy() for name in program.layers}, events)
    return ChipRun(
        outputs=outputs,
        spike_counts={name: s.sum(0, dtype=torch.float64).cpu().numpy().astype(np.int64) for name, s in summed.items()},
        input_nonzero=input_nonzero,
        spikes=recorded,
    )


def _constant_if_from_input(op: SynapseOp) -> SynapseOp:
    """The input is the same at every step, so a synapse from it gives the same output: compute it once."""
    if op.synapse.source != INPUT:
        return op
    cache: list[torch.Tensor] = []

    def apply(x: torch.Tensor) -> torch.Tensor:
        if not cache:
            cache.append(op.apply(x))
        return cache[0]

    return SynapseOp(op.synapse, apply, op.bound)


def _fixed_ops(program: ChipProgram, input_bound: int, device: torch.device) -> dict[str, SynapseOp]:
    # Spikes of a LIF are binary; the input (graded payloads or currents) carries integers.
    return {
        syn.name: build_fixed_op(syn, input_bound if syn.source == INPUT else 1, graded=syn.source == INPUT,
                                 device=device)  # fmt: skip
        for syn in program.synapses
    }


def _fixed_layer_steps(program: ChipProgram, ops: dict[str, SynapseOp], batch: int, device: torch.device):
    """Per LIF a closure holding its state that maps this step's source values to float32 0/1 spikes.

    With du = 4095 (the design's LIF) a step whose |a_in| < 2^17 cannot wrap and takes
    ``lif_fixed_step_no_wrap`` in float32 when that is exact; any other step takes the general path.
    u and v are ``program.state_bits`` wide (the target profile's).
    """
    steps = {}
    state_bits, a_in_limit = program.state_bits, no_wrap_a_in_limit(program.state_bits)
    for name, layer in program.layers.items():
        incoming = [ops[s.name] for s in program.incoming(name)]
        bias_int = effective_bias(layer.bias_mant, layer.bias_exp)
        bias_max = float(np.abs(bias_int).max(initial=0))
        a_in_bound = sum(op.bound for op in incoming)
        needs_wrap = a_in_bound >= INT32_LIMIT  # the in-port's int32 sum of several activations wraps
        no_wrap = no_wrap_applies(layer.du, bias_max, state_bits)
        dtype = torch.float64
        if no_wrap and a_in_bound < FLOAT32_EXACT:  # a float32 sum of the activations is then exact too
            dtype = no_wrap_dtype(layer.dv, bias_max, state_bits)
        bias = torch.from_numpy(bias_int.astype(np.float64)).to(device=device, dtype=dtype)
        state = {"u": torch.zeros((batch, *layer.shape), dtype=torch.float64, device=device),
                 "v": torch.zeros((batch, *layer.shape), dtype=dtype, device=device)}  # fmt: skip

        def step(values, layer=layer, incoming=incoming, bias=bias, state=state, needs_wrap=needs_wrap,
                 no_wrap=no_wrap, dtype=dtype):  # fmt: skip
            a_in = sum(op.apply(values[op.synapse.source]).to(dtype).reshape(batch, *layer.shape) for op in incoming)
            if needs_wrap:
                a_in = wrap_int32(a_in)
            if no_wrap:
                low, high = torch.aminmax(a_in)
                if max(-float(low), float(high)) < a_in_limit:
                    spikes, state["v"] = lif_fixed_step_no_wrap(
                        a_in, state["v"], dv=layer.dv, vth=layer.vth, bias=bias, state_bits=state_bits
                    )
                    return spikes.to(torch.float32)  # no copy when already float32
            # General path in float64; v is saturated to state_bits, so it returns to ``dtype`` exactly.
            spikes, state["u"], v = lif_fixed_step(
                a_in.double(), state["u"], state["v"].double(), du=layer.du, dv=layer.dv, vth=layer.vth,
                bias=bias.double(), state_bits=state_bits,
            )  # fmt: skip
            state["v"] = v.to(dtype)
            return spikes.to(torch.float32)

        steps[name] = step
    return steps


def _float_layer_steps(program: ChipProgram, ops: dict[str, SynapseOp], batch: int, device: torch.device):
    steps = {}
    for name, layer in program.layers.items():
        incoming = [ops[s.name] for s in program.incoming(name)]
        bias = torch.from_numpy(np.asarray(layer.bias_float, dtype=np.float32)).to(device)
        state = {"v": torch.zeros((batch, *layer.shape), dtype=torch.float32, device=device)}

        def step(values, layer=layer, incoming=incoming, bias=bias, state=state):
            current = sum(op.apply(values[op.synapse.source]).reshape(batch, *layer.shape) for op in incoming)
            spikes, state["v"] = lif_float_step(
                current, state["v"], decay=layer.decay, v_threshold=layer.v_threshold, bias=bias
            )
            return spikes.to(torch.float32)

        steps[name] = step
    return steps
