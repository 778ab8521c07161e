"""A ChipProgram as Lava processes (``LavaNetwork``), run pipelined over a batch in the worker process.

Timing in Lava: every synaptic layer (Dense, Sparse, Conv) sends the previous step's accumulation,
so a LIF at synaptic depth d sees input step j of sample k at Lava step k·T + j + 1 + d. All
samples run back to back in one run; ``LIFReset`` zeroes each LIF when a new sample reaches it
(reset_offset = (d + 1) mod T), and each LIF counts/records only its window [d + 1, d + B·T],
which is aligned time for that layer. Paths of different depth into one LIF are aligned by
delaying the shorter one: the input by a RingBuffer shifted in time, a LIF's spikes by relay
neurons (identity synapse + a LIF that repeats its input one step later, exactly). Real Loihi
would use synaptic delays instead of relays.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import ClassVar

import numpy as np

import enof  # noqa: F401  (installs the Python 3.11 import fix before lava)
from enof.formats.fixed_point import DECAY_CODE_MAX, DU_KEEP_NOTHING, GRADED_MESSAGE_BITS
from enof.runtime.lava.layout import conv_weight_to_lava, dense_weight_to_lava, lava_shape, to_lava_layout
from enof.runtime.lava.watchdog import ActorWatcher, LavaModelError, model_exceptions
from enof.runtime.program import INPUT, ChipProgram, Synapse

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import RingBuffer  # noqa: E402
from lava.proc.lif.process import LIF  # noqa: E402
from lava.proc.sparse.process import Sparse  # noqa: E402
from scipy import sparse as sp  # noqa: E402

from enof.runtime.lava.procs.processes import CountingLIF  # noqa: E402

RELAY_FIXED = dict(du=DU_KEEP_NOTHING, dv=DECAY_CODE_MAX, vth=0)  # u = a_in << 6; v = (v >> 12) + u; spikes iff a_in = 1
RELAY_FLOAT = dict(du=1.0, dv=1.0, vth=0.5)  # u = a_in; v = u; spikes iff a_in = 1


class LavaNetwork:
    """The Lava processes of one ChipProgram for one batch, pipelined over the samples."""

    def __init__(self, program: ChipProgram, source: np.ndarray, precision: str, fault=None):
        self.program = program
        self.fixed = precision == "fixed"
        self.batch = source.shape[0]
        self.source = source
        self.depths = program.depths()
        self.max_depth = max(self.depths[name] for name in program.layers)
        self.steps = self.batch * program.timesteps + self.max_depth
        self.processes: list = []
        self.lifs = {name: self._counting_lif(name, fault) for name in program.layers}
        self._inputs: dict[int, RingBuffer] = {}
        self._relays: dict[tuple[str, int], LIF] = {}
        for syn in program.synapses:
            self._connect(syn)

    # -- neurons
    def _counting_lif(self, name: str, fault) -> CountingLIF:
        layer = self.program.layers[name]
        depth, steps = self.depths[name], self.program.timesteps
        if self.fixed:
            params = dict(
                du=int(layer.du),
                dv=int(layer.dv),
                vth=int(layer.vth),
                bias_mant=to_lava_layout(np.asarray(layer.bias_mant, np.int32), layer.shape),
                bias_exp=int(layer.bias_exp),
            )
        else:  # PyLifModelFloat: u = u(1 − du) + a_in; v = v(1 − dv) + u + bias_mant
            params = dict(
                du=1.0,
                dv=1.0 - float(layer.decay),
                vth=float(layer.v_threshold),
                bias_mant=to_lava_layout(np.asarray(layer.bias_float, np.float64), layer.shape),
                bias_exp=0,
            )
        lif = CountingLIF(
            shape=lava_shape(layer.shape),
            **params,
            reset_interval=steps,
            reset_offset=(depth + 1) % steps,
            window_start=depth + 1,
            window_stop=depth + self.batch * steps,
            record=True,  # every layer: run.json's per-step counts (and the outputs host_out reads)
            fault=(fault.kind, fault.step) if fault is not None and fault.layer == name else None,
            name=name,
        )
        self.processes.append(lif)
        return lif

    def _relay(self, source: str, delay: int):
        """The LIF that repeats ``source``'s spikes ``delay`` steps later (the source itself for 0)."""
        if delay == 0:
            return self.lifs[source]
        key = (source, delay)
        if key not in self._relays:
            upstream = self._relay(source, delay - 1)
            shape = lava_shape(self.program.shape_of(source))
            relay = LIF(shape=shape, **(RELAY_FIXED if self.fixed else RELAY_FLOAT), name=f"{source}.relay{delay}")
            self._identity(upstream.s_out, relay, graded=False)
            self.processes.append(relay)
            self._relays[key] = relay
        return self._relays[key]

    # -- inputs
    def _input(self, delay: int) -> RingBuffer:
        """A RingBuffer that sends the samples' T frames back to back, ``delay`` steps late, then zeros."""
        if delay not in self._inputs:
            shape, program = self.program.input_shape, self.program
            # One frame per step: a temporal sample's own frames, else the static sample T times.
            frames = (self.source.reshape(-1, *shape) if program.input_temporal
                      else np.repeat(self.source, program.timesteps, axis=0))  # fmt: skip
            per_step = to_lava_layout(frames, shape)
            dtype = np.int32 if self.fixed else np.float64
            data = np.zeros((*lava_shape(shape), self.steps), dtype)
            data[..., delay : delay + per_step.shape[0]] = np.moveaxis(per_step, 0, -1)
            ring = RingBuffer(data=data)
            self.processes.append(ring)
            self._inputs[delay] = ring
        return self._inputs[delay]

    # -- synapses
    def _connect(self, syn: Synapse) -> None:
        delay = self.depths[syn.target] - 1 - self.depths[syn.source]
        # Input events are graded messages, except binary spikes in fixed point (num_message_bits 0: Lava's
        # synapses take any non-zero payload as one spike, as Loihi 1's axons do); float runs take the counts.
        from_input = syn.source == INPUT
        graded = from_input and not (self.fixed and self.program.input_mode == "spikes")
        out_port = self._input(delay).s_out if from_input else self._relay(syn.source, delay).s_out
        self._CONNECT[syn.runs_as](self, syn, out_port, self.lifs[syn.target], graded)

    def _current(self, syn: Synapse, out_port, target, graded: bool) -> None:
        if tuple(self.program.input_shape) != tuple(self.program.layers[syn.target].shape):
            raise ValueError(f"{syn.name}: current-mode input {self.program.input_shape} != {syn.target} shape")
        self._identity(out_port, target, graded=True)

    def _identity(self, out_port, target, graded: bool) -> None:
        n = int(np.prod(out_port.shape))
        weights = sp.identity(n, dtype=np.int32 if self.fixed else np.float64, format="csr")
        synapse = Sparse(weights=weights, num_message_bits=GRADED_MESSAGE_BITS if graded else 0)
        self.processes.append(synapse)
        _flat(out_port).connect(synapse.s_in)
        synapse.a_out.reshape(target.a_in.shape).connect(target.a_in)

    def _diagonal(self, syn: Synapse, out_port, target, graded: bool) -> None:
        """An identity conv as a Sparse diagonal that applies ``weight_exp`` (fixed) or the float weight.

        Neuron i of Lava's flattened (W, H, C) source feeds neuron i of the target, with the weight of
        its channel (torch diagonal broadcast over H, W, then put in Lava's layout).
        """
        shape = self.program.shape_of(syn.source)
        if tuple(shape) != tuple(self.program.layers[syn.target].shape):
            raise ValueError(f"{syn.name}: identity conv from {shape} into {self.program.layers[syn.target].shape}")
        if self.fixed:
            diag, dtype, extra = syn.diagonal_int, np.int32, dict(weight_exp=int(syn.weight_exp),
                                                                 num_weight_bits=int(syn.num_weight_bits))
        else:
            diag, dtype, extra = np.diagonal(syn.weight[:, :, 0, 0]), np.float64, {}
        per_neuron = np.broadcast_to(np.asarray(diag, dtype)[:, None, None], shape)
        values = to_lava_layout(per_neuron, shape).reshape(-1)
        weights = sp.diags(values, format="csr", dtype=dtype)
        synapse = Sparse(weights=weights, num_message_bits=GRADED_MESSAGE_BITS if graded else 0, name=syn.name, **extra)
        self.processes.append(synapse)
        _flat(out_port).connect(synapse.s_in)
        synapse.a_out.reshape(target.a_in.shape).connect(target.a_in)

    def _conv(self, syn: Synapse, out_port, target, graded: bool) -> None:
        source_shape = self.program.shape_of(syn.source)
        if len(source_shape) != 3:
            raise ValueError(f"{syn.name}: conv source {syn.source} has shape {source_shape}, not (C, H, W)")
        weight = syn.weight_int.astype(np.int32) if self.fixed else syn.weight.astype(np.float64)
        conv = Conv(
            weight=conv_weight_to_lava(weight),
            input_shape=lava_shape(source_shape),
            padding=(syn.padding[1], syn.padding[0]),  # Lava takes (X=W, Y=H)
            stride=(syn.stride[1], syn.stride[0]),
            num_message_bits=GRADED_MESSAGE_BITS if graded else 0,
            name=syn.name,
        )
        if tuple(conv.output_shape) != tuple(target.a_in.shape):
            raise ValueError(f"{syn.name}: Lava conv output {conv.output_shape} != {syn.target} {target.a_in.shape}")
        self.processes.append(conv)
        out_port.connect(conv.s_in)
        conv.a_out.connect(target.a_in)

    def _dense(self, syn: Synapse, out_port, target, graded: bool) -> None:
        source_shape = self.program.shape_of(syn.source)
        target_shape = self.program.layers[syn.target].shape
        if self.fixed:
            weights = dense_weight_to_lava(syn.weight_int.astype(np.int32), target_shape, source_shape)
            extra = dict(weight_exp=int(syn.weight_exp), num_weight_bits=int(syn.num_weight_bits))
        else:
            weights = dense_weight_to_lava(syn.weight.astype(np.float64), target_shape, source_shape)
            extra = {}
        dense = Dense(weights=weights, num_message_bits=GRADED_MESSAGE_BITS if graded else 0, name=syn.name, **extra)
        self.processes.append(dense)
        _flat(out_port).connect(dense.s_in)
        a_out = dense.a_out if len(target_shape) == 1 else dense.a_out.reshape(target.a_in.shape)
        a_out.connect(target.a_in)

    # One builder per operator (Synapse.runs_as); the diagonal because Lava's Conv would ignore weight_exp.
    _CONNECT: ClassVar[dict[str, Callable]] = {"current": _current, "diagonal": _diagonal, "conv": _conv, "dense": _dense}

    # -- run
    on_model_error = None  # set by main(): called with a ProcessModel's traceback, must not return

    def run(self) -> dict[str, np.ndarray]:
        """Compile, start, run all steps, read counts and outputs back (torch layout), stop."""
        tag = "fixed_pt" if self.fixed else "floating_pt"
        anchor = self.lifs[self.program.outputs[0]]
        t0 = time.perf_counter()
        executable = anchor.compile(Loihi2SimCfg(select_tag=tag))
        t1 = time.perf_counter()
        anchor.create_runtime(executable=executable)
        t2 = time.perf_counter()
        watcher = ActorWatcher(anchor.runtime._messaging_infrastructure.actors, self.on_model_error)
        watcher.start()
        try:
            anchor.run(condition=RunSteps(num_steps=self.steps))
        except Exception as exc:
            raise LavaModelError(model_exceptions(anchor) or traceback.format_exc()) from exc
        finally:
            watcher.stop()
        t3 = time.perf_counter()
        result = self._read_back()
        t4 = time.perf_counter()
        anchor.stop()
        timings = dict(compile_s=t1 - t0, start_s=t2 - t1, run_s=t3 - t2, readback_s=t4 - t3)
        timings.update(steps=self.steps, processes=len(self.processes))
        result.update({f"timing:{k}": np.asarray(v) for k, v in timings.items()})
        return result

    def _read_back(self) -> dict[str, np.ndarray]:
        program, steps = self.program, self.program.timesteps
        result = {}
        for name, lif in self.lifs.items():
            shape = program.layers[name].shape
            counts = np.rint(lif.spike_count.get()).astype(np.int64)
            result[f"count:{name}"] = to_lava_layout(counts, shape)
            raster = unpack_spikes(lif.spikes_packed.get(), self.batch * steps, int(np.prod(shape)))
            raster = raster.reshape(self.batch, steps, *lava_shape(shape))
            result[f"out:{name}"] = np.swapaxes(to_lava_layout(raster, shape), 0, 1)  # (T, B, *shape)
        return result


def unpack_spikes(words: np.ndarray, steps: int, neurons: int) -> np.ndarray:
    """Inverse of enof.runtime.lava.procs.models.pack_spikes: (steps, neurons) bool."""
    packed = np.rint(np.asarray(words, np.float64)).astype(np.int64).astype(">u4").view(np.uint8)
    return np.unpackbits(packed)[: steps * neurons].reshape(steps, neurons).astype(bool)


def _flat(port):
    return port if len(port.shape) == 1 else port.flatten()
