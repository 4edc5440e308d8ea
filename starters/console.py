"""Terminal output shared by every command: one console, one way to report an error with its next step."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
import typer.core
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


# ---- help text: the metavars people know ----------------------------------------------------------------------------
# Typer (0.29) shows a flag's type as `<bool>`, every value as `<str>`/`<int>` and a required argument as `{file}`.
# Help reads as in any other command-line tool instead: flags show no type, values TEXT, INTEGER, PATH (or the option's
# own metavar), and a required argument is FILE in the usage line, an optional one [FILE].

_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "bool": "BOOLEAN", "path": "PATH"}


def _value_type(self: Any, ctx: Any) -> str:
    label = str(_typer_display_type(self, ctx)).removeprefix("<").removesuffix(">")
    if label.startswith("list[") and label.endswith("]"):
        label = label[5:-1]  # repeatable: the option's help says so
    if "|" in label:
        return f"[{label}]"  # choices
    return _TYPE_NAMES.get(label, label.upper())


def _option_type(self: Any, ctx: Any) -> str | None:
    if self.is_flag:
        return None
    return _typer_option_type_rich(self, ctx)


def _usage_name(self: Any) -> str:
    name = self.display_name_raw.upper()
    name = name if self.required else f"[{name}]"
    return name + ("..." if self.nargs != 1 else "")


_typer_display_type = typer.core._TyperParameter.display_type
_typer_option_type_rich = typer.core.TyperOption.display_type_rich
typer.core._TyperParameter.display_type = _value_type  # type: ignore[method-assign]
typer.core.TyperOption.display_type_rich = _option_type  # type: ignore[method-assign]
typer.core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
