"""enof's own Lava Process: a LIFReset that counts and records its spikes inside the simulation.

Lava executes every .py file of this package at each compile to discover ProcessModels: import
only lava and numpy here.
"""

from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.process.variable import Var
from lava.proc.lif.process import LIFReset

BITS_PER_WORD = 32  # packed spike words; Var.get() sends float64, exact for integers < 2^53


def packed_words(bits: int) -> int:
    """Number of 32-bit words that hold ``bits`` packed spikes (at least one: a Var cannot be empty)."""
    return max(1, -(-bits // BITS_PER_WORD))


class CountingLIF(LIFReset):
    """LIFReset whose ProcessModel also counts each neuron's spikes in a window of timesteps.

    Counting (and recording) happens at steps ``window_start <= t <= window_stop`` (Lava's
    ``time_step``, 1-based): the steps in which this layer integrates real samples in a pipelined
    run. ``spike_count`` (shape) holds the per-neuron count; with ``record=True``, ``spikes_packed``
    holds every spike of the window, (steps, neurons) in C order, packed 32 per word, so the
    host reads ~N·steps/32 values through ``Var.get()`` instead of N·steps.

    ``fault`` exists for the watchdog's tests only: ``("raise", k)`` raises inside the model at
    step k, ``("hang", k)`` blocks there, ``("crash", k)`` kills its OS process there.
    """

    def __init__(
        self,
        *,
        shape: tuple[int, ...],
        du: ty.Union[int, float],
        dv: ty.Union[int, float],
        vth: ty.Union[int, float],
        bias_mant: ty.Union[int, float, np.ndarray],
        bias_exp: ty.Union[int, np.ndarray],
        reset_interval: int,
        reset_offset: int,
        window_start: int,
        window_stop: int,
        record: bool = False,
        fault: ty.Optional[tuple[str, int]] = None,
        name: ty.Optional[str] = None,
    ) -> None:
        super().__init__(
            shape=shape,
            du=du,
            dv=dv,
            vth=vth,
            bias_mant=bias_mant,
            bias_exp=bias_exp,
            reset_interval=reset_interval,
            reset_offset=reset_offset,
            name=name,
        )
        if window_stop < window_start:
            raise ValueError(f"{name}: empty count window [{window_start}, {window_stop}]")
        neurons = int(np.prod(shape))
        steps = window_stop - window_start + 1
        self.proc_params["window_start"] = int(window_start)
        self.proc_params["window_stop"] = int(window_stop)
        self.proc_params["record"] = bool(record)
        self.proc_params["fault"] = fault
        self.spike_count = Var(shape=shape, init=0)
        self.spikes_packed = Var(shape=(packed_words(neurons * steps if record else 0),), init=0)
