"""What every JSON reader in `enof.formats` shares: a guarded parse, one header check, typed field checks.

A problem is one line of the reader's error type (BundleError, RunResultError) in one wording,
so a fuzzer or a person can tell the file, the field and what was allowed:

    {file}: field {where!r} missing
    {file}: field {where!r} must be {kind}, got {type} {value}
    {file}: field {where!r} is {value}, outside [{low}, {high}] ({why})
    {file}: format_version {value} is not supported (this enof reads {version}; {what to do})

`where` is the field's path: `timesteps`, `target.name`, `partition[3].shape`, `cores[12].chip`.
Booleans are not integers here (JSON `true` is not a count), and every number must be finite.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

from enof.errors import EnofError

# Our files nest at most 5 levels (manifest interfaces); free-form records (dataset, interfaces) are
# refused beyond this, well below the depth at which copying them (dataclasses.asdict) would exhaust
# Python's recursion limit.
MAX_FREE_FORM_DEPTH = 32
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FLOAT_MAX = sys.float_info.max
_SHOWN = 40  # characters of a refused value quoted in a message


def parse_json(raw: bytes | str, label: str, error: type[EnofError]) -> Any:
    """Parse a whole JSON document; truncation, non-UTF-8 bytes, NaN/Infinity literals, number literals beyond
    float's range (1e400), integers too long for Python and nesting too deep to parse are each one `error`
    line naming `label`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise error(f"{label}: not UTF-8 text (a damaged file or not JSON)") from None
    except json.JSONDecodeError as exc:
        raise error(f"{label}: not valid JSON (truncated?): {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise error(f"{label}: JSON nested too deeply to parse (a damaged or hostile file)") from None
    except ValueError as exc:  # our NaN or overflow refusal, or an integer literal beyond Python's digit limit
        raise error(f"{label}: not valid JSON ({str(exc).splitlines()[0]})") from None


def check_header(
    data: Any, label: str, error: type[EnofError], *, version: int, format_name: str | None = None,
    what: str = "", advice: str = "", old_versions: Mapping[int, str] | None = None,
) -> dict:
    """The head every file contract here starts with, checked in one wording: a JSON object, its `format`
    equal to `format_name` (for a contract that names itself; `what` says what it is), its `format_version`
    equal to `version`. An old version listed in `old_versions` is refused with its reason, any other
    version with `advice` (what to do). Returns `data`."""
    if not isinstance(data, dict):
        raise error(f"{label}: expected a JSON object, got {type_name(data)}")
    if format_name is not None and data.get("format") != format_name:
        raise error(f"{label}: format {show(data.get('format'))} is not {format_name!r} (not an enof {what})")
    found = data.get("format_version")
    if found == version and type(found) is int:
        return data
    old = (old_versions or {}).get(found) if type(found) is int else None
    if old is not None:
        raise error(f"{label}: format_version {found} is not {version} ({old})")
    raise error(f"{label}: format_version {show(found)} is not supported (this enof reads {version}"
                + (f"; {advice})" if advice else ")"))


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    """A JSON number with a fraction or exponent; one beyond float's range (1e400) is refused, not infinity."""
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"{show(literal)} is beyond float's range ±1.8e308")
    return value


def show(value: Any) -> str:
    """A short quotation of a refused value (a fuzzed field may hold a megabyte)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number" if isinstance(value, (int, float)) else type(value).__name__
    )


class Fields:
    """Checks the fields of one parsed document; each failure raises `error` naming `label` and the field."""

    def __init__(self, label: str, error: type[EnofError]):
        self.label, self.error = label, error

    def fail(self, where: str, problem: str) -> NoReturn:
        raise self.error(f"{self.label}: field {where!r} {problem}")

    def get(self, obj: dict, key: str, where: str = "") -> Any:
        path = f"{where}.{key}" if where else key
        if key not in obj:
            self.fail(path, "missing")
        return obj[key]

    def wrong_type(self, value: Any, where: str, kind: str) -> NoReturn:
        self.fail(where, f"must be {kind}, got {type_name(value)} {show(value)}")

    def outside(self, value: Any, where: str, low: Any, high: Any, why: str = "") -> NoReturn:
        bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        self.fail(where, f"is {show(value)}, outside {bounds}" + (f" ({why})" if why else ""))

    def obj(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            self.wrong_type(value, where, "an object")
        return value

    def array(self, value: Any, where: str, length: int | None = None, nonempty: bool = False) -> list:
        if not isinstance(value, list):
            self.wrong_type(value, where, "an array")
        if length is not None and len(value) != length:
            self.fail(where, f"has {len(value)} entries, expected {length}")
        if nonempty and not value:
            self.fail(where, "is empty")
        return value

    def string(self, value: Any, where: str, choices: tuple[str, ...] | None = None, nonempty: bool = True) -> str:
        if not isinstance(value, str):
            self.wrong_type(value, where, "a string")
        if choices is not None and value not in choices:
            self.fail(where, f"is {show(value)}, not one of {', '.join(choices)}")
        if nonempty and not value.strip():
            self.fail(where, "is an empty string")
        return value

    def sha256(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _SHA256.fullmatch(value):
            self.fail(where, f"must be a sha256 (64 lowercase hex digits), got {type_name(value)} {show(value)}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            self.wrong_type(value, where, "true or false")
        return value

    def integer(self, value: Any, where: str, low: int | None = None, high: int | None = None, why: str = "") -> int:
        if type(value) is not int:
            self.wrong_type(value, where, "an integer")
        if (low is not None and value < low) or (high is not None and value > high):
            self.outside(value, where, low, high, why)
        return value

    def number(self, value: Any, where: str, low: float | None = None, high: float | None = None, why: str = "") -> float:
        # a comparison, not math.isfinite: an integer literal beyond float's range (10**400) is refused here too
        if type(value) not in (int, float) or not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            self.wrong_type(value, where, "a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            self.outside(value, where, low, high, why)
        return float(value)

    def shape(self, value: Any, where: str) -> tuple[int, ...]:
        """A tensor shape: a non-empty array of positive integers."""
        return tuple(self.integer(d, f"{where}[{i}]", 1) for i, d in enumerate(self.array(value, where, nonempty=True)))

    def free_form(self, value: Any, where: str, limit: int = MAX_FREE_FORM_DEPTH) -> Any:
        """A record we keep but do not interpret: any JSON, nested at most `limit` levels."""
        level, frontier = 0, [value]
        while frontier:
            level += 1
            if level > limit:
                self.fail(where, f"nests deeper than {limit} levels")
            frontier = [
                child for node in frontier if isinstance(node, (dict, list))
                for child in (node.values() if isinstance(node, dict) else node)
                if isinstance(child, (dict, list))
            ]  # fmt: skip
        return value

    def column(self, rows: list[dict], key: str, where: str, low: int | None = None, high: int | None = None,
               why: str = "") -> list[int]:
        """Integer field `key` of every row of an array of objects (fast for 10^5 rows), checked in range."""
        values = []
        for i, row in enumerate(rows):
            if key not in row:
                self.fail(f"{where}[{i}].{key}", "missing")
            values.append(row[key])
        for i, v in enumerate(values):
            if type(v) is not int or (low is not None and v < low) or (high is not None and v > high):
                self.integer(v, f"{where}[{i}].{key}", low, high, why)  # raises with the message
        return values
