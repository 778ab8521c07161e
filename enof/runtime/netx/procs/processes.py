"""SpikeTap: a Lava process that listens to a layer's spikes and records them, leaving the layer as it is.

netx builds its own LIF processes; counting must not replace them, so each netx layer's output port gets one
more listener (an OutPort may feed several InPorts) that records what it sends. Lava executes every .py file
of this package at each compile: import only lava and numpy here.
"""

from __future__ import annotations

import typing as ty

from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

from enof.runtime.lava.procs.processes import packed_words


class SpikeTap(AbstractProcess):
    """Records the spikes arriving at ``a_in`` at Lava steps ``window_start <= t <= window_stop`` (1-based),
    (steps, neurons) in C order, packed 32 per word into ``spikes_packed`` at the window's last step."""

    def __init__(self, *, shape: tuple[int, ...], window_start: int, window_stop: int,
                 name: ty.Optional[str] = None) -> None:
        super().__init__(shape=shape, window_start=window_start, window_stop=window_stop, name=name)
        if window_stop < window_start:
            raise ValueError(f"{name}: empty window [{window_start}, {window_stop}]")
        neurons = 1
        for size in shape:
            neurons *= int(size)
        self.a_in = InPort(shape=shape)
        self.spikes_packed = Var(shape=(packed_words(neurons * (window_stop - window_start + 1)),), init=0)
