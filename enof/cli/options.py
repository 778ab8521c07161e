"""Checks of the commands' numeric options that click's types do not make: one line naming the flag."""

from __future__ import annotations

import math

from enof.errors import EnofError

PLUGIN_HELP = ("a Python module name or .py file to import first, which registers architectures "
               "(enof.trainer.models.register_architecture); repeatable")


def positive_finite(value: float | None, flag: str) -> float | None:
    """`value` unless it is NaN, infinite, zero or negative (None: the option was not given)."""
    if value is None:
        return None
    _finite(value, flag)
    if value <= 0:
        raise EnofError(f"{flag} {value}: must be > 0")
    return value


def non_negative_finite(value: float, flag: str) -> float:
    """`value` unless it is NaN, infinite or negative."""
    _finite(value, flag)
    if value < 0:
        raise EnofError(f"{flag} {value}: must be ≥ 0")
    return value


def _finite(value: float, flag: str) -> None:
    if not math.isfinite(value):
        raise EnofError(f"{flag} {value}: must be a finite number")


# numpy's legacy RandomState, and most tools a seed reaches, take a 32-bit unsigned seed.
MAX_SEED = 2**32 - 1


def seed_in_range(value: int, flag: str) -> int:
    """A seed every random generator of a run takes: a whole number in [0, 2^32 − 1]."""
    if not 0 <= value <= MAX_SEED:
        raise EnofError(f"{flag} {value}: a seed is a whole number from 0 to {MAX_SEED} (2^32 − 1)")
    return value


def timesteps_in_range(values, flag: str) -> None:
    """Every T in ``values`` from 1 to the most steps a bundle runs (formats.bundle.MAX_TIMESTEPS), so that a
    T no bundle can hold is refused before training or exporting starts, not after."""
    from enof.formats.bundle import MAX_TIMESTEPS, TIMESTEPS_WHY

    for value in values:
        if not 1 <= value <= MAX_TIMESTEPS:
            raise EnofError(f"{flag} {value}: T must be from 1 to {MAX_TIMESTEPS} ({TIMESTEPS_WHY})")


def frame_size_option(text: str | None) -> list[int] | None:
    """--frame-size: ``N`` (N×N) or ``HxW``; an EnofError otherwise."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise EnofError(f"--frame-size {text}: expected N (square frames) or HxW, for example 48 or 34x34")
    sides = [int(p) for p in parts]
    return sides * 2 if len(sides) == 1 else sides
