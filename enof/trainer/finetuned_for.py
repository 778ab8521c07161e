"""What a checkpoint's ``finetuned_for`` record must hold (design.md §2): the fields
``enof.trainer.finetune.finetune_record`` writes, each of its kind, so that a garbled record is refused on load
instead of travelling into an export."""

from __future__ import annotations

import math
from typing import Any


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sha256(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


CHECKS = {
    "target": (lambda v: isinstance(v, str) and 0 < len(v) <= 200 and v.isprintable(), "a profile name"),
    "profile_sha256": (_sha256, "a sha256 hex digest"),
    "source_sha256": (_sha256, "a sha256 hex digest"),
    "epochs": (lambda v: _whole(v) and v >= 1, "a whole number ≥ 1"),
    "calibrate": (lambda v: _whole(v) and v >= 1, "a whole number ≥ 1"),
    "seed": (lambda v: _whole(v) and v >= 0, "a whole number ≥ 0"),
    "weight_bits": (lambda v: _whole(v) and 1 <= v <= 64, "a whole number of bits"),
    "lr": (lambda v: _number(v) and math.isfinite(v) and v > 0, "a finite learning rate > 0"),
    "source_test_accuracy": (lambda v: v is None or (_number(v) and 0 <= v <= 1), "null or an accuracy from 0 to 1"),
}


def finetuned_for_problem(record: dict | None) -> tuple[str, str] | None:
    """None for a record that is absent (None) or complete and well typed; else (field name, what is wrong)."""
    if record is None:
        return None
    for key, (valid, expected) in CHECKS.items():
        if key not in record:
            return f"finetuned_for.{key}", "is missing (enof-train finetune writes it)"
        if not valid(record[key]):
            shown = repr(record[key])
            return f"finetuned_for.{key}", f"is {shown[:60] + '…' if len(shown) > 60 else shown}; expected {expected}"
    return None
