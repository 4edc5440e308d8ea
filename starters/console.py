"""Terminal output shared by every command: one console, one way to report an error with its next step."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from typer.core import TyperGroup

from cadenza.errors import EXIT_BAD_INPUT, EXIT_PROBLEM, CadenzaError


class PipeSafeConsole(Console):
    """A console whose output is never cut when it goes to a file or a pipe: rich would render at 80 columns there
    (or `COLUMNS`), folding links, ellipsizing build ids and table headers that a script or a reader then copies.
    Off a terminal each `print` renders at the width its content asks for (at least the console's), so a table keeps
    its columns whole and a link stays on one line; on a terminal nothing changes (the terminal's width rules)."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if self.is_terminal or kwargs.get("width") is not None or not objects:
            super().print(*objects, **kwargs)
            return
        kwargs.setdefault("soft_wrap", not any(_is_framed(item) for item in objects))
        width = max(self.width, *(self._natural_width(item) for item in objects))
        with self._lock:  # rich lays out at most at the console's width: widen it for this one print
            saved, self._width = self._width, width
            try:
                super().print(*objects, **kwargs)
            finally:
                self._width = saved

    def _natural_width(self, item: Any) -> int:
        renderable = self.render_str(item) if isinstance(item, str) else item
        try:
            wide = self.options.update_width(MAX_PIPE_WIDTH)
            return min(MAX_PIPE_WIDTH, Measurement.get(self, wide, renderable).maximum)
        except Exception:  # noqa: BLE001 - something rich cannot measure: its usual width
            return self.width


def _is_framed(item: Any) -> bool:
    """Tables and panels lay themselves out in the width given; soft wrapping is for text."""
    return not isinstance(item, str)


MAX_PIPE_WIDTH = 1000
"""Off a terminal, no line is laid out wider than this (a runaway cell would otherwise make every row that wide)."""

console = PipeSafeConsole(highlight=False)
errors = PipeSafeConsole(stderr=True, highlight=False)

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
