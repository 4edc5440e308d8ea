"""Rendering load, audit and chaos reports for the terminal (and JSON for files)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from activities.audit import AuditReport
from starters.console import console
from starters.load import LoadReport

_STAT_COLUMNS = (
    "errors_injected",
    "rate_limits_injected",
    "stalls_injected",
    "slow_commits_injected",
    "idempotent_replays",
)


@contextmanager
def order_progress(total: int, label: str) -> Iterator[Callable[[str], None]]:
    """A live bar of closed orders, with the running outcome counts; yields the per-order callback."""
    counts: dict[str, int] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[outcomes]}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total, outcomes="")

        def done(outcome: str) -> None:
            counts[outcome] = counts.get(outcome, 0) + 1
            progress.update(task, advance=1, outcomes=" ".join(f"{k}={v}" for k, v in sorted(counts.items())))

        yield done


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def load_table(report: LoadReport) -> Table:
    summary = report.summary()
    table = Table(
        title=f"load run {report.run_id}: {report.orders} orders, concurrency {report.concurrency}",
        title_justify="left",
        show_header=False,
    )
    for outcome, count in sorted(report.outcomes.items()):
        table.add_row(outcome, str(count))
    table.add_row("wall time", f"{report.wall_time_s:.1f} s")
    if summary["throughput_per_s"]:
        table.add_row("throughput", f"{summary['throughput_per_s']:.1f} orders/s")
    for name, value in summary["latency_ms"].items():
        table.add_row(f"latency {name}", _ms(value))
    return table


def stats_table(stats: Mapping[str, Mapping[str, int]]) -> Table:
    table = Table("service", *_STAT_COLUMNS, title="faults injected and idempotent replays", title_justify="left")
    for service, row in stats.items():
        table.add_row(service, *(str(row.get(column, 0)) for column in _STAT_COLUMNS))
    return table


def print_audit(report: AuditReport) -> None:
    outcomes = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
    console.print(f"Audited {report.orders} orders ({outcomes or 'none'}).")
    if report.clean:
        console.print("[green]No inconsistency[/]: every outcome matches the services' records.")
        return
    table = Table("order", "inconsistency", title=f"{len(report.problems)} inconsistencies", title_justify="left")
    for problem in report.problems:
        table.add_row(problem.order_id, Text(problem.message))  # as written: a failure's "[…]" is not markup
    console.print(table)


def report_file(path: Path | None) -> Path | None:
    """The callback of a `--json FILE` option: refused at once (exit 2) when the file cannot be written, instead of
    after a long run whose report would then be lost."""
    if path is None:
        return None
    folder = path.parent
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a folder: give the name of a file in it")
    if not folder.is_dir():
        raise typer.BadParameter(f"{path}: the folder {folder} does not exist; create it first, or write elsewhere")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise typer.BadParameter(f"{path} cannot be written (permission denied); write elsewhere")
    return path


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))
    console.print(f"Wrote {path}")
