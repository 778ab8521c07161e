"""The netx backend: a bundle's chip.net.h5 loaded by lava-dl's own ``netx.hdf5.Network`` and run in Lava.

``file`` (the file checked against the bundle's chip program before Lava starts), ``network`` (the worker's
side: netx's network, its input and the spike taps), ``procs/`` (the only files Lava's discovery executes
here). The run itself goes through the Lava backend's worker and watchdog (``enof.runtime.lava.backend``).
Importing this package imports nothing.
"""
