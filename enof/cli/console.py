"""The one place the commands make their rich Console and their typer app."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

# Output that is not a terminal (make demo, CI logs, `> report.txt`) has no width to fit: rich's 80-column default
# (or a COLUMNS of the environment) would cut a wide table's columns to "…" without a mark. Such output gets a page
# wider than any table here, and each table takes its own natural width: nothing is cut.
UNCUT_WIDTH = 10_000


def make_console(stderr: bool = False) -> Console:
    """A Console as wide as the terminal; off a terminal, wide enough that no table is cut."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=UNCUT_WIDTH)
    return console


def command_app(**options) -> typer.Typer:
    """A command's typer app: no shell completion, no pretty tracebacks, and --help in rich panels on a terminal
    but as click's plain text otherwise, which wraps every line and cuts none (rich's panels cut option names
    such as --stop-after-epochs to fit 80 columns)."""
    markup = "rich" if sys.stdout.isatty() else None
    return typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=markup, **options)
