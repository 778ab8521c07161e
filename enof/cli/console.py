"""The one place the commands make their rich Console."""

from __future__ import annotations

import os

from rich.console import Console

# Piped or redirected output (make demo, CI logs, `> report.txt`) has no terminal width; rich's
# 80-column default would cut the report tables' columns to "…". Such output gets a wide page.
PIPED_WIDTH = 160


def make_console(stderr: bool = False) -> Console:
    """A Console as wide as the terminal, or PIPED_WIDTH columns when output is not a terminal."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=PIPED_WIDTH)
    return console
