"""One sourced profile value (``Quantity``: value, source, grade) and the checks every profile field goes through.

Each problem is one ProfileError line naming the file, the table and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from enof.errors import ProfileError

# Evidence grades (docs/design.md §4). A grade may combine several, "pre-silicon, second-hand".
GRADES = frozenset({"published", "pre-silicon", "second-hand", "measured", "derived", "assumption"})


@dataclass(frozen=True)
class Quantity:
    """One profile number (or flag/label) with where it comes from and how sure we are."""

    value: Any
    source: str
    grade: str

    @property
    def grades(self) -> tuple[str, ...]:
        return tuple(g.strip() for g in self.grade.split(","))


def grades_of(quantities: Iterable[Quantity]) -> list[str]:
    """The evidence grades a set of quantities rests on, sorted (a report's "[published, measured]")."""
    return sorted({g for q in quantities for g in q.grades})


# Value types per field; bool is excluded from int/float on purpose (TOML `true` is not a count).
_INT, _NUM, _BOOL, _STR = "integer", "number", "boolean", "string"
_BARRIER = "rows [tiles, us] (tiles integers >= 1, ascending; us finite numbers >= 0)"


def _table(data: dict, key: str, label: str) -> dict:
    if key not in data:
        raise ProfileError(f"{label}: [{key}]: missing")
    if not isinstance(data[key], dict):
        raise ProfileError(f"{label}: [{key}]: expected a table")
    return data[key]


def _no_unknown(table: dict, types: dict, where: str, label: str) -> None:
    for key in table:
        if key not in types:
            raise ProfileError(f"{label}: {where}.{key}: unknown field")


def _quantity(table: dict, key: str, kind: str, where: str, label: str) -> Quantity:
    at = f"{label}: {where}.{key}"
    if key not in table:
        raise ProfileError(f"{at}: missing")
    entry = table[key]
    if not isinstance(entry, dict):
        raise ProfileError(f'{at}: expected an inline table {{ value = ..., source = "...", grade = "..." }}')
    for part in entry:
        if part not in ("value", "source", "grade"):
            raise ProfileError(f"{at}.{part}: unknown field (expected value, source, grade)")
    if "value" not in entry:
        raise ProfileError(f"{at}.value: missing")
    value = entry["value"]
    if not _is_kind(value, kind):
        raise ProfileError(f"{at}.value: expected {kind}, got {type(value).__name__} {value!r}")
    source = entry.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ProfileError(f"{at}.source: " + ("missing" if source is None else "expected a non-empty string"))
    grade = entry.get("grade")
    if not isinstance(grade, str):
        raise ProfileError(f"{at}.grade: " + ("missing" if grade is None else "expected a string"))
    unknown = [g for g in (x.strip() for x in grade.split(",")) if g not in GRADES]
    if unknown:
        raise ProfileError(f"{at}.grade: unknown grade '{unknown[0]}' (use {'|'.join(sorted(GRADES))})")
    if kind == _NUM and not math.isfinite(value):
        raise ProfileError(f"{at}.value: must be a finite number, got {value}")
    return Quantity(value=float(value) if kind == _NUM else value, source=source, grade=grade)


def _is_barrier_table(value: Any) -> bool:
    """[[tiles, µs], ...]: tiles integers ≥ 1 strictly ascending, µs finite numbers ≥ 0, at least one row."""
    if not isinstance(value, list) or not value:
        return False
    for row in value:
        if not (isinstance(row, list) and len(row) == 2 and _is_kind(row[0], _INT) and row[0] >= 1
                and _is_kind(row[1], _NUM) and math.isfinite(row[1]) and row[1] >= 0):
            return False
    keys = [row[0] for row in value]
    return keys == sorted(set(keys))


def _is_kind(value: Any, kind: str) -> bool:
    if kind == _BARRIER:
        return _is_barrier_table(value)
    if kind == _BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == _INT:
        return isinstance(value, int)
    if kind == _NUM:
        return isinstance(value, (int, float))
    return isinstance(value, str) and bool(value.strip())
