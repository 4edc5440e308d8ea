"""`cadenza reconcile run` and `cadenza reconcile schedule`: what the CLI's thin commands call."""

from __future__ import annotations

import uuid
from datetime import timedelta

from rich.table import Table
from temporalio.client import Client

from cadenza.settings import TASK_QUEUE
from starters.reconcile.schedule import reconcile_run_options
from starters.replay import BadReplayInput, parse_since
from workflows.reconcile import ReconcileWorkflow
from workflows.reconcile_models import ReconcileInput, ReconcileReport, RepairStatus

RUN_ID_PREFIX = "cadenza-reconcile-run-"


class BadReconcileInput(ValueError):
    pass


def parse_duration(option: str, text: str, *, allow_zero: bool = True) -> timedelta:
    """'5m', '24h', '2d' → a timedelta, or an error naming the option."""
    try:
        value = parse_since(text)
    except BadReplayInput:
        value = None
    if value is None or (not allow_zero and not value):
        smallest = "" if allow_zero else " above 0"
        raise BadReconcileInput(f"{option} {text!r}: use a whole number{smallest} and a unit, e.g. 30s, 5m, 24h, 2d")
    return value


async def run_once(client: Client, params: ReconcileInput, *, task_queue: str = TASK_QUEUE) -> tuple[str, ReconcileReport]:
    """Start one reconcile run now (on the workers of `task_queue`) and wait for its report."""
    workflow_id = f"{RUN_ID_PREFIX}{uuid.uuid4().hex[:12]}"
    handle = await client.start_workflow(
        ReconcileWorkflow.run, params, id=workflow_id, task_queue=task_queue, **reconcile_run_options(params)
    )
    return workflow_id, await handle.result()


def repairs_table(report: ReconcileReport) -> Table:
    table = Table("result", "repair", "why", title="Repairs", title_justify="left")
    for outcome in report.repairs:
        failed = outcome.status == RepairStatus.FAILED
        # A repair made says why it was needed; one not made says why not.
        why = outcome.repair.reason if outcome.status == RepairStatus.REPAIRED else outcome.detail
        table.add_row(f"[red]{outcome.status.value}[/]" if failed else outcome.status.value, outcome.repair.describe(), why)
    return table


def unrepaired_table(report: ReconcileReport) -> Table:
    more = report.unrepaired_total - len(report.unrepaired)
    title = "Left for a person" + (f" (the first {len(report.unrepaired)} of {report.unrepaired_total})" if more else "")
    table = Table("order", "inconsistency", title=title, title_justify="left")
    for finding in report.unrepaired:
        table.add_row(finding.order_id, finding.message)
    return table
