"""The terminal picture of one declared saga's run, as `cadenza saga run --wait` and `cadenza saga status` print it:
the same kind of panel as an order's (starters/status_view.py), over the run's own steps."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from clients.sagas.runs import RunView

_STATE_STYLE = {
    "completed": "green",
    "compensated": "yellow",
    "needs_attention": "bold red",
    "compensating": "yellow",
}
_RESULT_WIDTH = 60


def run_panel(view: RunView, link: str, steps: list[str] | None = None) -> Panel:
    """`steps`: the definition's step ids in order (known to `run`); without them, those the run reported."""
    summary = Table(show_header=False, box=None, padding=(0, 2))
    summary.add_row("run", f"{escape(view.run_id)} ({view.execution_status.lower()})")
    if view.summary:
        summary.add_row("saga", escape(view.summary))
    parts: list[RenderableType] = [summary]
    progress = view.progress
    if progress is not None:
        style = _STATE_STYLE.get(progress.state.value, "cyan")
        summary.add_row("state", f"[{style}]{progress.state.value}[/]")
        summary.add_row("definition", progress.content_hash)
        if progress.reason:
            summary.add_row("reason", escape(f"{progress.reason} ({progress.error_type})"))
        table = Table("step", "status", "result", box=None, padding=(0, 2))
        known = steps or _reported_steps(progress.completed_steps, progress.current_step, progress.failed_step)
        for step in known:
            if step in progress.completed_steps:
                mark = "[green]done[/]"
            elif step == progress.failed_step:
                mark = "[red]failed[/]"
            elif step == progress.current_step:
                mark = "[cyan]in progress[/]"
            else:
                mark = "[dim]—[/]"
            result = progress.results.get(step)
            table.add_row(escape(step), mark, escape(_short(result)) if step in progress.results else "")
        parts.append(table)
        if progress.compensations:
            undos = Table("undo of", "status", "detail", box=None, padding=(0, 2))
            for record in progress.compensations:
                undos.add_row(escape(record.action), record.status.value, escape(record.detail or ""))
            parts.append(undos)
    if view.note:
        parts.append(f"[dim]{escape(view.note)}[/]")
    parts.append(f"Web UI: {link}")
    return Panel(Group(*parts), title=f"saga run {escape(view.run_id)}", title_align="left")


def _reported_steps(completed: list[str], current: str | None, failed: str | None) -> list[str]:
    seen = list(completed)
    for step in (failed, current):
        if step is not None and step not in seen:
            seen.append(step)
    return seen


def _short(value: object) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= _RESULT_WIDTH else text[: _RESULT_WIDTH - 1] + "…"
