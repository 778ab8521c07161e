"""Imports inside functions are for heavy optional packages that must stay lazy (torch, Lava, ONNX Runtime,
matplotlib, ...: a command's ``--help`` or a reader of run.json must not wait for them), or for a plugin's
own optional dependency. Each says why in a comment on its import block (issue 24: imports inside
functions had hidden two import cycles). An inner import without its reason fails here, by file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import enof

PACKAGE_ROOT = Path(enof.__file__).parent


def _inner_import_blocks(tree: ast.AST) -> list[list[ast.stmt]]:
    """Runs of consecutive import statements inside function bodies (one block shares one comment)."""
    blocks = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for body in _bodies(fn):
            run: list[ast.stmt] = []
            for stmt in body:
                if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                    run.append(stmt)
                    continue
                if run:
                    blocks.append(run)
                run = []
            if run:
                blocks.append(run)
    return blocks


def _bodies(fn: ast.AST):
    """Every statement list under a function, nested blocks included, but not nested functions' (walked on their own)."""
    stack = [fn]
    while stack:
        node = stack.pop()
        for field in ("body", "orelse", "finalbody", "handlers"):
            stmts = getattr(node, field, None)
            if not isinstance(stmts, list):
                continue
            if field != "handlers":
                yield stmts
            stack.extend(s for s in stmts if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


def unexplained_inner_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        lines = path.read_text().splitlines()
        for block in _inner_import_blocks(ast.parse("\n".join(lines), str(path))):
            first, last = block[0].lineno, block[-1].end_lineno
            text = lines[first - 2: last]  # the line above the block, and the block
            if not any("#" in line for line in text):
                found.append(f"{path.relative_to(PACKAGE_ROOT.parent)}:{first}")
    return found


def test_every_import_inside_a_function_says_why_it_is_lazy():
    assert unexplained_inner_imports() == []


def test_the_check_sees_an_inner_import_without_a_comment(tmp_path):
    tree = ast.parse("def f():\n    x = 1\n    import json\n    from os import path\n    return x\n")
    blocks = _inner_import_blocks(tree)
    assert [[s.lineno for s in b] for b in blocks] == [[3, 4]]


def test_import_enof_and_the_commands_load_no_heavy_package():
    """What the lazy imports are for: ``import enof`` and every command's module (what ``--help`` loads) import
    none of torch, ONNX, ONNX Runtime, NIR, Lava, Norse, h5py or matplotlib."""
    import subprocess
    import sys

    heavy = ("torch", "onnx", "onnxruntime", "nir", "lava", "norse", "h5py", "matplotlib")
    modules = ["enof"] + [f"enof.cli.{p.stem}" for p in sorted((PACKAGE_ROOT / "cli").glob("*.py")) if p.stem != "__init__"]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(' '.join(sorted({{n.split('.')[0] for n in sys.modules}} & set({heavy!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(modules) >= 7 and done.stdout.strip() == ""
