"""The terminal picture of one declared saga's run, as `cadenza saga run --wait` and `cadenza saga status` print it:
the same kind of panel as an order's (starters/status_view.py), over the run's own steps."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from clients.sagas.runs import RunView
from starters.status_view import execution_text

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
    progress = view.progress
    # The run's state first, as an order's panel leads with the order's (starters/status_view.py).
    state = progress.state.value if progress is not None else view.execution_status.lower()
    why = f" ({progress.reason})" if progress is not None and progress.reason else ""
    parts: list[RenderableType] = [f"[bold]{escape(f'Run {view.run_id}: {state}{why}')}[/]", summary]
    summary.add_row("state", f"[{_STATE_STYLE.get(state, 'cyan')}]{state}[/]")
    if progress is not None and progress.reason:
        summary.add_row("reason", escape(f"{progress.reason} ({progress.error_type})"))
    summary.add_row("run", f"{escape(view.run_id)} ({execution_text(state, view.execution_status)})")
    if view.summary:
        summary.add_row("saga", escape(view.summary))
    if progress is not None:
        summary.add_row("definition", progress.content_hash)
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
