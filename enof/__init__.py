"""enof: EnOF spiking neural networks from training to a simulated Loihi chip.

The Python entry points (README "Python"), what the enof-export, enof-run and enof-energy commands do:

- ``enof.export(source, target, out, ...) -> Bundle``: a model.pt, a NIR graph, or a torch module of snnTorch,
  Norse or SpikingJelly layers → a bundle folder for a (simulated) Loihi target;
- ``enof.run(bundle, inputs=None, ...) -> RunResult``: classify arrays (or the test split) on the built-in
  simulator or Lava: predictions, accuracy, activity, spikes;
- ``enof.energy(run, ...) -> EnergyReport``: energy and time per inference on the chip, with the ANN beside it.

Errors a user can act on are ``enof.errors.EnofError``: one line naming the argument, file or layer.
"""

from enof import lava_compat as _lava_compat
from enof.version import __version__

# Lava 0.10.0 does not import on Python >= 3.11 without this finder (see lava_compat).
# Installing a meta-path finder is cheap and imports nothing; it must precede any
# `import lava`, which may happen in a forked worker or in user code after `import enof`.
_lava_compat.install()

from enof.api import energy, export, run  # noqa: E402  (after the finder: nothing here imports lava)
from enof.results import Bundle, EnergyReport, RunResult  # noqa: E402

__all__ = ["export", "run", "energy", "Bundle", "RunResult", "EnergyReport", "__version__"]
