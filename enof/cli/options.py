"""Checks of the commands' numeric options that click's types do not make: one line naming the flag."""

from __future__ import annotations

import math

from enof.errors import EnofError


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
