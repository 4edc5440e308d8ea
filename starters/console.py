"""Terminal output shared by every command: one console, one way to report an error with its next step."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

# Exit codes: 1 = the command ran and found a problem, 2 = the input was refused before anything happened.
EXIT_PROBLEM = 1
EXIT_BAD_INPUT = 2


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    # Escaped: messages carry text from elsewhere (a failure's "[type=missing, …]", "[TMPRL1100]") that rich would
    # otherwise take for markup and drop.
    errors.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)
