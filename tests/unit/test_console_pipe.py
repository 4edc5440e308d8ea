"""Output into a pipe or a file is never cut: rich would lay it out at 80 columns there (or COLUMNS), folding links,
ellipsizing the build ids `cadenza deploy promote` takes and the headers of `cadenza load`'s tables."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD_ID = "0.1.0-28c9f2d3a1b4e5f60718293a4b5c6d7e8f90a1b2"
LINK = "http://localhost:8233/namespaces/default/workflows/order-demo-4f2a9c-happy-and-a-long-tail-0123456789"

RENDER = textwrap.dedent(
    f"""
    from datetime import UTC, datetime
    from rich.table import Table
    from cadenza.deployment import DeploymentState, VersionState
    from starters.console import console
    from starters.deploy import status_table
    from starters.reports import stats_table

    version = VersionState("{BUILD_ID}", "current", None, datetime.now(UTC), ("cadenza-orders", "cadenza-other"))
    console.print(status_table(DeploymentState("cadenza", "{BUILD_ID}", None, 0, (version,), b"")))
    console.print(stats_table({{"payment": {{}}, "inventory": {{}}}}))
    console.print("3 orders checked, nothing to repair.\\nWeb UI: {LINK}")
    table = Table("scenario", "order", "outcome")
    table.add_row("happy path", "demo-4f2a9c-happy", "{LINK}")
    console.print(table)
    console.print("after the table")
    """
)


def _render_into_a_pipe() -> str:
    done = subprocess.run(
        [sys.executable, "-c", RENDER],
        env={**os.environ, "COLUMNS": "80", "TERM": "xterm-256color"},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_tables_and_links_into_a_pipe_at_80_columns_are_whole():
    out = _render_into_a_pipe()
    assert BUILD_ID in out, out  # the id `cadenza deploy promote` takes, copied from `deploy status`
    assert f"Web UI: {LINK}\n" in out  # a link on one line
    assert "demo-4f2a9c-happy" in out and f" {LINK} " in out  # a table cell holding a link
    from starters.reports import _STAT_COLUMNS

    assert all(column in out for column in _STAT_COLUMNS), out  # load's headers
    assert "…" not in out
    assert out.splitlines()[-1] == "after the table"  # each table ends its line
