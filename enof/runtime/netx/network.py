"""The worker's side of the netx backend: chip.net.h5 as lava-dl's ``netx.hdf5.Network``, fed by a RingBuffer,
each layer's spikes recorded by a SpikeTap, run pipelined over the batch like the Lava backend's own network.

netx resets each layer with ``LIFReset(reset_interval=T)``, layer i at offset ``reset_offset + 1 + i``
(netx/hdf5.py ``Network._create``); with ``reset_offset = 1`` the LIF at synaptic depth d = i + 1 is reset at
the first step of every sample that reaches it, Lava step k·T + d + 1, as ``builder.LavaNetwork`` resets its
own. Layer i's window of real samples is [d + 1, d + B·T]. netx's network itself is left as netx built it.
"""

from __future__ import annotations

import multiprocessing.util
import os
import tempfile

import numpy as np

import enof  # noqa: F401  (installs the Python 3.11 import fix before lava)
from enof.formats.fixed_point import GRADED_MESSAGE_BITS
from enof.runtime.lava.builder import LavaNetwork, unpack_spikes
from enof.runtime.lava.layout import lava_shape, to_lava_layout
from enof.runtime.program import ChipProgram

from lava.proc.io.source import RingBuffer  # noqa: E402

from enof.runtime.netx.procs.processes import SpikeTap  # noqa: E402


class NetxNetwork(LavaNetwork):
    """netx's Network for one batch (fixed point only): ``run()`` is the Lava backend's (compile, watched run,
    read back, stop); the layers are netx's, the input a RingBuffer into ``net.inp``, the counts from SpikeTaps."""

    def __init__(self, program: ChipProgram, source: np.ndarray, netx_file: bytes):
        from lava.lib.dl import netx  # lava-dl: imports slayer, torch and cv2 (seconds): only in the worker

        self.program, self.fixed, self.batch, self.source = program, True, source.shape[0], source
        self.depths = program.depths()
        self.max_depth = max(self.depths[name] for name in program.layers)
        self.steps = self.batch * program.timesteps + self.max_depth
        self.processes: list = []
        self._inputs: dict[int, RingBuffer] = {}
        # netx opens the file by name (h5py): in the worker's temporary folder, which goes on every way out
        handle, self._path = tempfile.mkstemp(suffix=".net.h5", dir=multiprocessing.util.get_temp_dir())
        with os.fdopen(handle, "wb") as out:
            out.write(netx_file)
        graded = program.input_mode != "spikes"
        self.net = netx.hdf5.Network(net_config=self._path, input_message_bits=GRADED_MESSAGE_BITS if graded else 0,
                                     reset_interval=program.timesteps, reset_offset=1)  # fmt: skip
        names = list(program.layers)
        if len(self.net.layers) != len(names):
            raise ValueError(f"netx built {len(self.net.layers)} layers, the chip program has {len(names)}")
        ring = self._input(0)
        _flat_if(ring.s_out, self.net.inp).connect(self.net.inp)
        self.lifs = {}
        for name, layer in zip(names, self.net.layers):
            depth = self.depths[name]
            tap = SpikeTap(shape=tuple(layer.out.shape), window_start=depth + 1,
                           window_stop=depth + self.batch * program.timesteps, name=f"{name}.tap")  # fmt: skip
            layer.out.connect(tap.a_in)
            self.lifs[name] = tap  # run() compiles from the first output's tap: the whole connected network
        self.processes += [self.net, *self.lifs.values()]

    def _read_back(self) -> dict[str, np.ndarray]:
        program, steps = self.program, self.program.timesteps
        result = {}
        for name, tap in self.lifs.items():
            shape = program.layers[name].shape
            raster = unpack_spikes(tap.spikes_packed.get(), self.batch * steps, int(np.prod(shape)))
            raster = raster.reshape(self.batch, steps, *lava_shape(shape))
            torch_raster = to_lava_layout(raster, shape)  # (B, T, *shape)
            result[f"count:{name}"] = torch_raster.sum(axis=(0, 1), dtype=np.int64)
            result[f"out:{name}"] = np.swapaxes(torch_raster, 0, 1)  # (T, B, *shape)
        os.unlink(self._path)
        return result


def _flat_if(port, target):
    """The RingBuffer's (W, H, C) port as netx's input takes it: flattened in C, H, W order for a first dense
    layer (netx's flatten), else as it is."""
    if len(port.shape) == len(target.shape):
        return port
    return port.transpose([2, 1, 0]).flatten() if len(port.shape) == 3 else port.flatten()
