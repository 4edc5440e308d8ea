"""Every command's help reads as in any other command-line tool: no `<bool>` after a flag, no `<str>`, and a required
argument as FILE in the usage line, not `{file}`."""

from __future__ import annotations

import re
from typing import Any

import typer.main
from typer.testing import CliRunner

from starters.cli import app


def _commands(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # Typer vendors its own click: a group is whatever has subcommands.
    found = [path]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


def test_no_command_help_shows_typer_metavars():
    root = typer.main.get_command(app)
    runner = CliRunner()
    paths = _commands(root)
    assert ("order", "place") in paths and ("faults", "refuse") in paths
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"}, terminal_width=200)
        assert shown.exit_code == 0, (path, shown.output)
        assert not re.search(r"<(bool|str|int|float|path|list\[[a-z]+\])>", shown.output), (path, shown.output)
        assert not re.search(r"Usage: .*\{[a-z_]+\}", shown.output), (path, shown.output)


def test_a_required_argument_is_upper_case_and_a_flag_has_no_type():
    shown = CliRunner().invoke(app, ["order", "place", "--help"], env={"COLUMNS": "200"}, terminal_width=200).output
    assert re.search(r"Usage: .*order place \[OPTIONS\] FILE", shown), shown
    assert re.search(r"--wait\s+Wait for the outcome", shown), shown
