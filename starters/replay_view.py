"""What `cadenza replay` shows: a progress bar while it replays, then the tally, the rate and each failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from starters.replay import ReplayOutcome, ReplayReport


@contextmanager
def replay_progress(console: Console, total: int, source: str) -> Iterator[Callable[[Sequence[ReplayOutcome]], None]]:
    """A progress bar over `total` histories; yields the callback that advances it."""
    failed = 0
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    console.print(f"Replaying {source}")
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=total, failed="")

        def advance(outcomes: Sequence[ReplayOutcome]) -> None:
            nonlocal failed
            failed += sum(1 for outcome in outcomes if outcome.error)
            progress.update(task, advance=len(outcomes), failed=f"[red]{failed} failed[/]" if failed else "")

        yield advance


def summary(report: ReplayReport) -> str:
    ok = report.replayed - len(report.failures)
    processes = f"{report.processes} process{'es' if report.processes > 1 else ''}"
    tally = (
        f"Replayed {report.replayed} histories in {report.seconds:.1f} s "
        f"({report.rate:.0f} histories/s, {processes}): {ok} ok"
    )
    return tally + (f", [red]{len(report.failures)} failed[/]" if report.failures else "")


def failures_table(failures: Sequence[ReplayOutcome]) -> Table:
    table = Table(title="Histories the current code cannot replay", title_justify="left")
    for column in ("workflow id", "run id", "event", "why"):
        table.add_column(column, overflow="fold")
    for failure in failures:
        event = str(failure.event_id) if failure.event_id is not None else "?"
        table.add_row(failure.workflow_id, failure.run_id or "", event, failure.error or "")
    return table
