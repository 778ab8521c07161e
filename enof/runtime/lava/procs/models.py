"""ProcessModels of CountingLIF: Lava's own LIFReset models plus counting and packed recording.

The neuron dynamics are inherited unchanged from lava.proc.lif.models (PyLifResetModelBitAcc for
fixed_pt, PyLifResetModelFloat for floating_pt); only ``reset_voltage``, which both call once per
step with the step's spike vector, is extended. Keep imports to lava and numpy (lava executes this
file at every compile).
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
from lava.magma.core.decorator import implements
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import PyLifResetModelBitAcc, PyLifResetModelFloat

from enof.runtime.lava.procs.processes import BITS_PER_WORD, CountingLIF


def pack_spikes(raster: np.ndarray, words: int) -> np.ndarray:
    """Pack a boolean raster (C order) into ``words`` big-endian 32-bit words, as int64."""
    packed = np.packbits(raster.ravel())
    padded = np.zeros(words * BITS_PER_WORD // 8, np.uint8)
    padded[: packed.size] = packed
    return padded.view(">u4").astype(np.int64)


class _CountingMixin:
    """Counts (and optionally records) the spike vector that LIF models pass to reset_voltage."""

    def _init_counting(self, proc_params) -> None:
        self._window_start = proc_params["window_start"]
        self._window_stop = proc_params["window_stop"]
        self._record = proc_params["record"]
        self._fault = proc_params["fault"]
        steps = self._window_stop - self._window_start + 1
        neurons = int(np.prod(proc_params["shape"]))
        self._raster = np.zeros((steps, neurons), bool) if self._record else None

    def reset_voltage(self, spike_vector: np.ndarray) -> None:
        super().reset_voltage(spike_vector)
        t = self.time_step
        if self._fault is not None and self._fault[1] == t:
            _inject_fault(self._fault[0], t)
        if self._window_start <= t <= self._window_stop:
            self.spike_count += spike_vector.astype(self.spike_count.dtype)
            if self._raster is not None:
                self._raster[t - self._window_start] = spike_vector.ravel() != 0
                if t == self._window_stop:
                    self.spikes_packed[:] = pack_spikes(self._raster, self.spikes_packed.size)


def _inject_fault(kind: str, step: int) -> None:
    if kind == "raise":
        raise RuntimeError(f"fault injected at step {step} (watchdog test)")
    if kind == "crash":  # like an out-of-memory kill: no exception, no traceback
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "hang":
        while True:  # a hang the watchdog must end
            time.sleep(1.0)
    raise ValueError(f"unknown fault {kind!r}")


@implements(proc=CountingLIF, protocol=LoihiProtocol)
class PyCountingLifModelBitAcc(_CountingMixin, PyLifResetModelBitAcc):
    """fixed_pt: Lava's bit-accurate LIFReset, counting its spikes."""

    implements_process = None  # re-targeted from LIFReset to CountingLIF by @implements (set after the body)
    spike_count: np.ndarray = LavaPyType(np.ndarray, np.int64)
    spikes_packed: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._init_counting(proc_params)


@implements(proc=CountingLIF, protocol=LoihiProtocol)
class PyCountingLifModelFloat(_CountingMixin, PyLifResetModelFloat):
    """floating_pt: Lava's float LIFReset, counting its spikes."""

    implements_process = None
    spike_count: np.ndarray = LavaPyType(np.ndarray, np.int64)
    spikes_packed: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._init_counting(proc_params)
