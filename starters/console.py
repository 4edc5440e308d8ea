"""Terminal output shared by every command: one console, one way to report an error with its next step."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from cadenza.errors import EXIT_BAD_INPUT, EXIT_PROBLEM, CadenzaError

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

# Exit codes (cadenza.errors): 1 = the command ran and found a problem, 2 = the input was refused before anything
# happened. Re-exported here for the commands that end without an exception.
__all__ = ["EXIT_BAD_INPUT", "EXIT_PROBLEM", "CommandGroup", "console", "errors", "fail"]


def fail(message: str, code: int = EXIT_PROBLEM) -> NoReturn:
    # Escaped: messages carry text from elsewhere (a failure's "[type=missing, …]", "[TMPRL1100]") that rich would
    # otherwise take for markup and drop.
    errors.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


class CommandGroup(TyperGroup):
    """The `cadenza` command group: every command's `CadenzaError` ends here, the one place that prints its message
    and next step and exits with its code. Commands let them rise instead of catching them by name."""

    def next_step(self, err: CadenzaError) -> str:
        """What to do next, as printed under the message: the error's own. The clients layer names no command, so a
        door words the next step of those errors in its own terms by overriding this."""
        return err.next_step

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click.Context
        try:
            return super().invoke(ctx)
        except CadenzaError as err:
            fail(err.report(self.next_step(err)), err.exit_code)
