"""Child process of ``enof.runtime.lava_backend``: build a ChipProgram as Lava processes, run, write results.

Usage: ``python -m enof.runtime.lava_worker PARENT_PID RESULT_FD ERROR_FD``, a pickled LavaJob on stdin
(written by the parent); writes an npz to RESULT_FD and exits 0, or a traceback to ERROR_FD and exits 3.
The worker and every process Lava forks end when their parent does, however it ends (Linux's
PR_SET_PDEATHSIG). The parent passes unnamed temporary files; the worker's temporary folder
(multiprocessing's ``pymp-*``) goes on every way out but the worker's own SIGKILL.

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

import multiprocessing.util
import os
import pickle
import shutil
import signal
import sys
import threading
import time
import traceback
from typing import NoReturn

import numpy as np

import enof  # noqa: F401  (installs the Python 3.11 import fix before lava)
from enof.runtime.lava_backend import (
    LavaJob,
    conv_weight_to_lava,
    dense_weight_to_lava,
    lava_shape,
    to_lava_layout,
)
from enof.runtime.lava_lifetime import EXIT_PARENT_GONE, die_with_parent, forked_processes_die_with_their_forker
from enof.runtime.program import INPUT, ChipProgram, Synapse

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.conv.process import Conv  # noqa: E402
from lava.proc.dense.process import Dense  # noqa: E402
from lava.proc.io.source import RingBuffer  # noqa: E402
from lava.proc.lif.process import LIF  # noqa: E402
from lava.proc.sparse.process import Sparse  # noqa: E402
from scipy import sparse as sp  # noqa: E402

from enof.runtime.lava.processes import CountingLIF  # noqa: E402

GRADED_MESSAGE_BITS = 24  # graded payloads (input values); Lava's fixed Conv in-port is 24-bit
RELAY_FIXED = dict(du=4095, dv=4095, vth=0)  # u = a_in << 6; v = (v >> 12) + u; spikes iff a_in = 1
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
            record=name in self.program.outputs,
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
        """A RingBuffer that sends the samples back to back, ``delay`` steps late, then zeros."""
        if delay not in self._inputs:
            shape = self.program.input_shape
            per_step = np.repeat(to_lava_layout(self.source, shape), self.program.timesteps, axis=0)
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
        graded = syn.source == INPUT
        out_port = self._input(delay).s_out if graded else self._relay(syn.source, delay).s_out
        target = self.lifs[syn.target]
        if syn.kind == "current":
            if tuple(self.program.input_shape) != tuple(self.program.layers[syn.target].shape):
                raise ValueError(f"{syn.name}: current-mode input {self.program.input_shape} != {syn.target} shape")
            self._identity(out_port, target, graded=True)
        elif syn.kind == "conv" and syn.weight_exp != 0 and syn.is_identity:
            self._diagonal(syn, out_port, target, graded)  # Lava's Conv would ignore weight_exp
        elif syn.kind == "conv":
            self._conv(syn, out_port, target, graded)
        else:
            self._dense(syn, out_port, target, graded)

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
            raise LavaModelError(_model_exceptions(anchor) or traceback.format_exc()) from exc
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
            if name in program.outputs:
                raster = unpack_spikes(lif.spikes_packed.get(), self.batch * steps, int(np.prod(shape)))
                raster = raster.reshape(self.batch, steps, *lava_shape(shape))
                result[f"out:{name}"] = np.swapaxes(to_lava_layout(raster, shape), 0, 1)  # (T, B, *shape)
        return result


def unpack_spikes(words: np.ndarray, steps: int, neurons: int) -> np.ndarray:
    """Inverse of enof.runtime.lava.models.pack_spikes: (steps, neurons) bool."""
    packed = np.rint(np.asarray(words, np.float64)).astype(np.int64).astype(">u4").view(np.uint8)
    return np.unpackbits(packed)[: steps * neurons].reshape(steps, neurons).astype(bool)


def _flat(port):
    return port if len(port.shape) == 1 else port.flatten()


class LavaModelError(Exception):
    """An exception raised inside a Lava ProcessModel (its traceback is the message)."""


class ActorWatcher(threading.Thread):
    """Polls the forked Lava processes for an exception or a death while run() blocks.

    After an exception in a ProcessModel, lava's runtime joins every actor, and the actors that
    wait on the failed one's channels never end: run() blocks forever instead of raising; a killed
    actor (out of memory, a signal) blocks it silently. This thread reports the first traceback an
    actor sent, or the first actor that died with a non-zero exit code, to ``on_error``.
    """

    def __init__(self, actors, on_error, poll_s: float = 0.05):
        super().__init__(daemon=True, name="enof-lava-actor-watcher")
        self._actors, self._on_error, self._poll_s = list(actors), on_error, poll_s
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._poll_s):
            for actor in self._actors:
                try:
                    exception = actor._exception if actor._is_done else actor.exception
                    exit_code = None if actor._is_done else actor.exitcode
                except (OSError, EOFError, ValueError):  # the runtime closed this actor's pipe meanwhile
                    continue
                if self._stopped.is_set():
                    return
                if exception:
                    self._on_error(exception[1])
                    return
                if exit_code:  # negative: the signal that ended it
                    self._on_error(f"Lava process {actor.name} died with exit code {exit_code} and no exception")
                    return

    def stop(self) -> None:
        self._stopped.set()


def _model_exceptions(process) -> str:
    """Tracebacks that the forked Lava processes reported (run() only says 'N Exception(s) occurred')."""
    runtime = process.runtime
    actors = getattr(getattr(runtime, "_messaging_infrastructure", None), "actors", [])
    found = []
    for actor in actors:
        exception = actor.exception
        if exception:
            found.append(exception[1])
    return "\n".join(found)


def leave(scratch: str, exit_code: int) -> NoReturn:
    """End the worker now and remove its temporary folder; the processes it forked follow (SIGKILL)."""
    shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def main(argv: list[str]) -> NoReturn:
    parent_pid, result_fd, error_fd = (int(arg) for arg in argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # held until the folder and its handler exist
    if not die_with_parent(parent_pid, signal.SIGTERM):
        os._exit(EXIT_PARENT_GONE)
    # Made here before Lava forks, multiprocessing's folder (its shared-memory manager's socket) is
    # shared with every forked process and known to this one, which removes it.
    scratch = multiprocessing.util.get_temp_dir()

    def terminated(signum, frame) -> NoReturn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the cleanup
        leave(scratch, 128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    forked_processes_die_with_their_forker()
    job: LavaJob = pickle.load(sys.stdin.buffer)  # written by our own parent process
    failing = threading.Lock()

    def fail(error: str) -> NoReturn:
        # stop() would block forever after a model exception: exit now, the parent ends the group.
        with failing:  # the watcher thread and the main thread may both fail: the first one reports
            with open(error_fd, "w", closefd=False) as out:
                out.write(error)
            leave(scratch, 3)

    try:
        network = LavaNetwork(job.program, job.source, job.precision, job.fault)
        network.on_model_error = fail
        result = network.run()
    except LavaModelError as exc:
        fail(str(exc))
    except Exception:  # noqa: BLE001  (any failure becomes the parent's RunError)
        fail(traceback.format_exc())
    with open(result_fd, "wb", closefd=False) as out:
        np.savez(out, **result)
    leave(scratch, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
