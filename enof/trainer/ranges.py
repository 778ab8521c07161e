"""The ranges every command and the sweep hold a seed and a T to, checked before any work starts."""

from __future__ import annotations

from enof.errors import EnofError
from enof.formats.manifest import MAX_TIMESTEPS, TIMESTEPS_WHY

# numpy's legacy RandomState, and most tools a seed reaches, take a 32-bit unsigned seed.
MAX_SEED = 2**32 - 1


def seed_in_range(value: int, flag: str) -> int:
    """A seed every random generator of a run takes: a whole number in [0, 2^32 − 1]."""
    if not 0 <= value <= MAX_SEED:
        raise EnofError(f"{flag} {value}: a seed is a whole number from 0 to {MAX_SEED} (2^32 − 1)")
    return value


def timesteps_in_range(values, flag: str) -> None:
    """Every T in ``values`` from 1 to the most steps a bundle runs (formats.manifest.MAX_TIMESTEPS), so that a
    T no bundle can hold is refused before training or exporting starts, not after."""
    for value in values:
        if not 1 <= value <= MAX_TIMESTEPS:
            raise EnofError(f"{flag} {value}: T must be from 1 to {MAX_TIMESTEPS} ({TIMESTEPS_WHY})")
