"""Mutation testing for one module: apply small semantic changes, run the module's tests, print killed / survived.

    python tests/tools/mutate.py enof/formats/quant.py tests/formats/test_pinned_number_limits.py
    python tests/tools/mutate.py enof/exporter/placement_cost.py tests/exporter/test_placement.py --lines 60-120
    python tests/tools/mutate.py enof/lava_arithmetic.py tests/runtime --match "decay|wrap" --list

Each mutant is one change a user would see as a wrong number, not a crash: an arithmetic operator
(+ ↔ −, * ↔ /, // → /, ** → *, << ↔ >>), a comparison bound (< ↔ <=, > ↔ >=, == ↔ !=, is ↔ is not,
in ↔ not in), an integer constant ±1 and a float constant ×2, an axis or dim argument moved to the next
axis, min ↔ max, and ↔ or, True ↔ False, a ``not`` or a unary minus dropped. Code inside f-strings,
docstrings and lines marked ``# pragma: no mutate`` is left alone.

A mutant is written into a copy of the ``enof`` package under a temporary folder that comes first on
PYTHONPATH, so the working tree is never edited (an interrupted run leaves nothing behind). A mutant is
*killed* when the tests fail (or time out), *survived* when they pass: a survivor is a rule no test pins.
Not part of ``make test``: a module takes minutes (one pytest run per mutant); narrow it with
``--lines`` or ``--match``. Exit status 0 when every mutant was killed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "enof"

_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
                ast.Pow: ast.Mult, ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.Mod: ast.FloorDiv}
_COMPARE_SWAPS = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                  ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_AXIS_KEYWORDS = ("axis", "dim")
_NO_MUTATE = "pragma: no mutate"


@dataclass(frozen=True)
class Mutant:
    line: int
    col: int
    end_line: int
    end_col: int
    old: str
    new: str
    kind: str

    def describe(self) -> str:
        return f"line {self.line}:{self.col}: {self.kind}: {self.old!r} -> {self.new!r}"


def _protected(tree: ast.AST) -> set[int]:
    """ids of nodes that are not mutated: docstrings and everything inside an f-string."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(n) for n in ast.walk(node))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
    return skip


def _replaced(node: ast.expr, change) -> str:
    """Source of a copy of ``node`` with ``change`` applied to the copy, in parentheses (precedence-safe)."""
    copy = ast.parse(ast.unparse(node), mode="eval").body
    change(copy)
    return f"({ast.unparse(copy)})"


def _text(node: ast.expr) -> bool:
    """A string or list operand: + and * on them join or repeat; changing the operator crashes rather
    than gives a wrong number."""
    return isinstance(node, (ast.JoinedStr, ast.List, ast.Tuple)) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _set(attr, value):
    return lambda n: setattr(n, attr, value)


def _number_changes(value: int | float):
    """An integer ±1, a float ×2 (0.0 → 1.0), in source form (a negative one in parentheses)."""
    if type(value) is int:
        for changed in (value + 1, value - 1):
            yield "constant", f"({changed})" if changed < 0 else repr(changed)
    else:
        changed = value * 2 if value else 1.0
        yield "constant", f"({changed!r})" if changed < 0 else repr(changed)


def _candidates(node: ast.AST):
    """(kind, new source) pairs for one node."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS and not _text(node.left) and not _text(node.right):
        new_op = _BINOP_SWAPS[type(node.op)]()
        yield "operator", _replaced(node, _set("op", new_op))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):  # each link of a chain a < b <= c on its own
            if type(op) in _COMPARE_SWAPS:
                ops = [*node.ops[:i], _COMPARE_SWAPS[type(op)](), *node.ops[i + 1:]]
                yield "bound", _replaced(node, _set("ops", ops))
    elif isinstance(node, ast.BoolOp):
        yield "logic", _replaced(node, _set("op", ast.Or() if isinstance(node.op, ast.And) else ast.And()))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        if type(node.operand.value) in (int, float):  # a negative literal is one constant: -1 → 0, -2
            yield from _number_changes(-node.operand.value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "sign", f"({ast.unparse(node.operand)})"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "logic", f"({ast.unparse(node.operand)})"
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "logic", repr(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        yield from _number_changes(node.value)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
        other = "max" if node.func.id == "min" else "min"
        yield "bound", _replaced(node, lambda n: setattr(n.func, "id", other))


def _axis_candidates(node: ast.AST):
    """``axis=k`` / ``dim=k`` moved to the next axis (k + 1, or k − 1 for a negative k)."""
    if not isinstance(node, ast.Call):
        return
    for kw in node.keywords:
        value = kw.value
        if kw.arg in _AXIS_KEYWORDS:
            number = value.value if isinstance(value, ast.Constant) else None
            if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
                number = -value.operand.value
            if type(number) is int:
                yield kw.value, "axis", repr(number - 1 if number < 0 else number + 1)


def mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    lines = source.splitlines()
    skip = _protected(tree)
    found: list[Mutant] = []

    def add(node, kind, new):
        if _NO_MUTATE in lines[node.lineno - 1]:
            return
        old = ast.get_source_segment(source, node)
        if old is not None and old != new:
            found.append(Mutant(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, old, new, kind))

    axis_values = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        for value, kind, new in _axis_candidates(node):
            axis_values.update(id(n) for n in ast.walk(value))
            add(value, kind, new)
    negated = {id(n.operand) for n in ast.walk(tree) if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub)}
    for node in ast.walk(tree):
        if id(node) in skip or id(node) in axis_values or id(node) in negated or not hasattr(node, "lineno"):
            continue
        for kind, new in _candidates(node):
            add(node, kind, new)
    return sorted(set(found), key=lambda m: (m.line, m.col, m.new))


def apply(source: str, m: Mutant) -> str:
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for text in lines:
        offsets.append(offsets[-1] + len(text.encode()))
    raw = source.encode()
    start = offsets[m.line - 1] + m.col
    end = offsets[m.end_line - 1] + m.end_col
    return (raw[:start] + m.new.encode() + raw[end:]).decode()


def run_tests(tests: list[str], env: dict, timeout_s: float) -> tuple[str, float]:
    started = time.monotonic()
    # -P: python -m would put the working tree first on sys.path, ahead of the mutant's copy
    command = [sys.executable, "-P", "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return "killed (timeout)", time.monotonic() - started
    outcome = {0: "survived", 1: "killed", 5: "no tests ran"}.get(done.returncode, f"killed (pytest exit {done.returncode})")
    return outcome, time.monotonic() - started


def _parse_lines(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="a file of the enof package, e.g. enof/formats/quant.py")
    parser.add_argument("tests", nargs="+", help="test files or folders that should kill the mutants")
    parser.add_argument("--lines", help="only mutate lines A-B (or one line A)")
    parser.add_argument("--match", help="only mutate lines whose text matches this regular expression")
    parser.add_argument("--sample", type=int, help="run a random sample of this many mutants (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant's test run, a timeout counting as killed (default: 5 × the unchanged run + 30 s: "
                             "a mutated loop bound can loop forever)")
    parser.add_argument("--list", action="store_true", help="list the mutants and run nothing")
    args = parser.parse_args(argv)

    module = (ROOT / args.module).resolve()
    relative = module.relative_to(ROOT)
    if relative.parts[0] != PACKAGE or module.suffix != ".py":
        parser.error(f"{args.module}: not a .py file of the {PACKAGE} package under {ROOT}")
    source = module.read_text()
    chosen = mutants(source)
    text_lines = source.splitlines()
    if (span := _parse_lines(args.lines)) is not None:
        chosen = [m for m in chosen if span[0] <= m.line <= span[1]]
    if args.match:
        pattern = re.compile(args.match)
        chosen = [m for m in chosen if pattern.search(text_lines[m.line - 1])]
    if args.sample is not None and args.sample < len(chosen):
        chosen = sorted(random.Random(args.seed).sample(chosen, args.sample), key=lambda m: (m.line, m.col))
    print(f"{relative}: {len(chosen)} mutants; tests: {' '.join(args.tests)}")
    if args.list or not chosen:
        for m in chosen:
            print(f"  {m.describe()}")
        return 0

    # a kill (SIGTERM) unwinds like Ctrl-C, so the temporary copy is removed either way
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    with tempfile.TemporaryDirectory(prefix="enof-mutate-") as overlay:
        shutil.copytree(ROOT / PACKAGE, Path(overlay) / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
        target = Path(overlay) / relative
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([overlay, str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "PYTHONDONTWRITEBYTECODE": "1"}
        imported = subprocess.run([sys.executable, "-P", "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
                                  cwd=ROOT, env=env, capture_output=True, text=True).stdout.strip()
        if not imported.startswith(overlay):
            print(f"{PACKAGE} imports from {imported or '(nowhere)'}, not from the mutant's copy in {overlay}")
            return 2
        outcome, seconds = run_tests(args.tests, env, args.timeout or 3600.0)
        if outcome != "survived":
            print(f"the tests do not pass on the unchanged module ({outcome}): fix that first")
            return 2
        timeout_s = args.timeout or 5 * seconds + 30
        print(f"unchanged module: tests pass in {seconds:.0f} s (a mutant's run is stopped after {timeout_s:.0f} s)")
        survived = []
        for i, m in enumerate(chosen, 1):
            target.write_text(apply(source, m))
            outcome, seconds = run_tests(args.tests, env, timeout_s)
            print(f"[{i}/{len(chosen)}] {outcome:<9} {m.describe()} ({seconds:.0f} s)", flush=True)
            if outcome == "survived":
                survived.append(m)
        target.write_text(source)
    killed = len(chosen) - len(survived)
    print(f"\n{relative}: killed {killed} / {len(chosen)}, survived {len(survived)}")
    for m in survived:
        print(f"  survived: {m.describe()}")
    return 0 if not survived else 1


if __name__ == "__main__":
    sys.exit(main())
