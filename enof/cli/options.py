"""Checks of the commands' numeric options that click's types do not make: one line naming the flag."""

from __future__ import annotations

import math

from enof.errors import EnofError

PLUGIN_HELP = ("a Python module name or .py file to import first, which registers architectures "
               "(enof.trainer.models.register_architecture); repeatable")

DEVICE_HELP = "auto (CUDA when torch sees a GPU), cpu, cuda or cuda:N"


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


def frame_size_option(text: str | None) -> list[int] | None:
    """--frame-size: ``N`` (N×N) or ``HxW``; an EnofError otherwise."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
        raise EnofError(f"--frame-size {text}: expected N (square frames) or HxW, for example 48 or 34x34")
    sides = [int(p) for p in parts]
    return sides * 2 if len(sides) == 1 else sides
