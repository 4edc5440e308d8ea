"""Doctor's output: a table for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from cadenza.connection import active_profile, config_file
from starters.doctor.model import Result, Status

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}
_MARK = {Status.PASS: "✓ pass", Status.WARN: "! warn", Status.FAIL: "✗ fail", Status.SKIP: "- skip"}


def results_table(results: Sequence[Result], checking: str | None = None) -> Table:
    """The results so far, and the check under way (progress: doctor never sits silent)."""
    table = Table(title="cadenza doctor", title_justify="left", show_lines=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    table.add_column("how to fix", overflow="fold")
    for result in results:
        # Detail and fix as written: they quote failures and commands whose "[…]" is not markup.
        mark = Text(_MARK[result.status], style=_STYLE[result.status])
        table.add_row(result.check, mark, Text(result.detail), Text(result.fix))
    if checking is not None:
        table.add_row(checking, Text("… checking", style="cyan"), "", "")
    return table


def results_json(results: Sequence[Result], passed: bool) -> str:
    return json.dumps(
        {
            "passed": passed,
            "profile": active_profile(),
            "config_file": config_file(),
            "checks": [result.as_dict() for result in results],
        },
        indent=2,
        ensure_ascii=False,
    )
