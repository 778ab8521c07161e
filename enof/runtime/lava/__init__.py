"""The Lava backend: ``backend`` (parent side and watchdog), ``worker`` (the child process),
``builder`` (a ChipProgram as Lava processes), ``layout`` (torch ↔ Lava array layouts), ``lifetime``.

``procs/`` holds the only files Lava's process-model discovery executes. Importing this package
imports nothing (lava forces multiprocessing's 'fork' start method on whoever imports it).
"""
