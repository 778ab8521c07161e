"""enof: EnOF spiking neural networks from training to a simulated Loihi chip."""

from enof import lava_compat as _lava_compat

__version__ = "0.1.0"

# Lava 0.10.0 does not import on Python >= 3.11 without this finder (see lava_compat).
# Installing a meta-path finder is cheap and imports nothing; it must precede any
# `import lava`, which may happen in a forked worker or in user code after `import enof`.
_lava_compat.install()
