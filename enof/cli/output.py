"""What a script reads from a command: one JSON object on stdout, the one `error:` line, the exit code.

Exit codes, the same for every command (README "Exit codes"): 0 ok; 1 invalid input (every EnofError:
a missing file, a corrupt checkpoint, a network that does not fit, a bad option value) or a failed
check (enof-compare: the runs differ); 2 a usage error (an unknown option, a missing argument, a value
click cannot convert), which click reports itself.
"""

from __future__ import annotations

import json
from typing import NoReturn

import typer

from enof.errors import EnofError

EXIT_FAILED = EnofError.exit_code  # 1, also enof-compare's "the runs differ"
ERROR_LINE = "one 'error:' line on stderr"


def exit_codes_epilog(ok: str = "ok", failed: str = f"invalid input ({ERROR_LINE})") -> str:
    """The --help epilog that states the exit codes, in the words of one command."""
    return f"Exit codes: 0 {ok}; 1 {failed}; 2 usage error (unknown option, missing argument, a value of the wrong type)."


def fail(exc: EnofError) -> NoReturn:
    """Print the error's one line on stderr and end the command with its exit code (1)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code) from None


def print_json(data: dict) -> None:
    """`data` as one indented JSON object on stdout, the whole of what a --json command prints there."""
    typer.echo(json.dumps(data, indent=2))
