"""ProcessModel of SpikeTap (fixed_pt and floating_pt: it only reads spike vectors). Keep imports to lava and
numpy (lava executes this file at every compile)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from enof.runtime.lava.procs.models import pack_spikes
from enof.runtime.netx.procs.processes import SpikeTap


@implements(proc=SpikeTap, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PySpikeTapModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    spikes_packed: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._start, self._stop = proc_params["window_start"], proc_params["window_stop"]
        neurons = int(np.prod(proc_params["shape"]))
        self._raster = np.zeros((self._stop - self._start + 1, neurons), bool)

    def run_spk(self) -> None:
        spikes = self.a_in.recv()
        t = self.time_step
        if self._start <= t <= self._stop:
            self._raster[t - self._start] = np.asarray(spikes).ravel() != 0
            if t == self._stop:
                self.spikes_packed[:] = pack_spikes(self._raster, self.spikes_packed.size)
