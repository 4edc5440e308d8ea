"""The terminal picture of one order, as `cadenza order status` prints it."""

from __future__ import annotations

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from clients.orders import OrderView
from workflows.models import Step

_STATE_STYLE = {
    "completed": "green",
    "compensated": "yellow",
    "needs_attention": "bold red",
    "compensating": "yellow",
    "awaiting_review": "bold magenta",
}


# Why an execution's status differs from what its order's state suggests: said next to it, so that nobody reads
# "failed" or "canceled" as a fault of Cadenza's.
_AS_DESIGNED = {
    ("compensated", "failed"): "compensated, it fails as designed",
    ("compensated", "canceled"): "cancelled on request",
}


def execution_text(state: str, execution_status: str) -> str:
    """The execution's status as the panels show it, after the state: "execution failed: a compensated …"."""
    execution = execution_status.lower()
    designed = _AS_DESIGNED.get((state, execution))
    return f"execution {execution}" + (f": {designed}" if designed else "")


def headline(view: OrderView) -> str:
    """The order's state first, with why when it did not complete: "Order ord-1: compensated (card declined)"."""
    progress = view.progress
    why = f" ({progress.reason})" if progress is not None and progress.reason else ""
    return f"Order {view.order_id}: {view.state}{why}"


def status_panel(view: OrderView, link: str) -> Panel:
    summary = Table(show_header=False, box=None, padding=(0, 2))
    progress = view.progress
    style = _STATE_STYLE.get(view.state, "cyan")
    summary.add_row("state", f"[{style}]{view.state}[/]")
    if progress is not None and progress.reason:
        summary.add_row("reason", f"{progress.reason} ({progress.error_type})")
    if view.summary:
        summary.add_row("order", view.summary)
    summary.add_row("workflow", f"{view.workflow_id} ({execution_text(view.state, view.execution_status)})")
    parts: list = [f"[bold]{escape(headline(view))}[/]", summary]
    if progress is not None:
        if progress.risk is not None:
            verdict = "referred to review" if progress.risk.review_required else "approved"
            summary.add_row("risk check", f"{verdict} (score {progress.risk.score}/100)")
        if (review := progress.review) is not None:
            if review.outcome is None:
                summary.add_row("review", f"waiting until {review.deadline}: {'; '.join(review.reasons)}")
            else:
                by = f" by {review.reviewer}" if review.reviewer else ""
                summary.add_row(
                    "review", f"{review.outcome.value}{by}" + (f": {review.reason}" if review.reason else "")
                )
        steps = Table("step", "status", box=None, padding=(0, 2))
        for step in Step:
            if step in progress.completed_steps:
                mark = "[green]done[/]"
            elif step == progress.failed_step:
                mark = f"[red]failed[/]: {progress.reason}"
            elif step == progress.current_step:
                mark = "[cyan]in progress[/]"
            else:
                mark = "[dim]—[/]"
            steps.add_row(step.value, mark)
        parts.append(steps)
        if progress.compensations:
            compensations = Table("compensation", "status", "detail", box=None, padding=(0, 2))
            for record in progress.compensations:
                compensations.add_row(record.action.value, record.status.value, record.detail or "")
            parts.append(compensations)
    if view.note:
        parts.append(f"[dim]{escape(view.note)}[/]")
    parts.append(f"Web UI: {link}")
    return Panel(Group(*parts), title=f"order {view.order_id}", title_align="left")
