"""Output that is not a terminal is never cut (issue 27): --help is complete (every option's full name, no "…")
and a table wider than any page keeps every character of every cell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from rich.table import Table

from enof.cli.console import make_console

BIN = Path(sys.executable).parent
COMMANDS = [("enof-train",), ("enof-train", "ablation"), ("enof-train", "finetune"), ("enof-export",), ("enof-run",),
            ("enof-energy",), ("enof-compare",), ("enof-sweep",)]  # fmt: skip


def _options(argv) -> list[str]:
    """Every option name of the command, from its click definition (typer's)."""
    module = {"enof-train": "train", "enof-export": "export", "enof-run": "run", "enof-energy": "energy",
              "enof-compare": "compare_runs", "enof-sweep": "sweep"}[argv[0]]
    app = __import__(f"enof.cli.{module}", fromlist=["app"]).app
    command = typer.main.get_command(app)
    if len(argv) > 1:
        command = command.commands[argv[1]]
    return [name for p in command.params if p.param_type_name == "option" for name in p.opts if name.startswith("--")]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_help_off_a_terminal_names_every_option_in_full(argv):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    shown = subprocess.run([str(BIN / argv[0]), *argv[1:], "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "…" not in shown.stdout
    words = set(shown.stdout.replace(",", " ").split())
    missing = [name for name in _options(argv) if name not in words]
    assert not missing, missing  # e.g. --stop-after-epochs was "--stop-after-epo…"


def test_a_table_wider_than_any_page_is_printed_whole_off_a_terminal(capsys):
    table = Table(title="wide")
    for i in range(6):
        table.add_column(f"column number {i} with a long header")
    table.add_row(*[f"cell {i} " + "x" * 60 for i in range(6)])
    make_console().print(table)  # capsys: stdout is not a terminal
    out = capsys.readouterr().out
    assert "…" not in out
    for i in range(6):
        assert f"column number {i} with a long header" in out and f"cell {i} " + "x" * 60 in out
