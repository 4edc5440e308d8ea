"""`cadenza reconcile run` and `cadenza reconcile schedule`: what the CLI's thin commands call."""

from __future__ import annotations

import uuid
from datetime import timedelta

from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowFailureError

from cadenza.errors import CadenzaError, InvalidInput
from cadenza.settings import settings
from clients.reconcile_schedule import reconcile_run_options
from starters.console import console
from starters.replay import BadReplayInput, parse_since
from workflows.errors import describe_failure
from workflows.reconcile import ReconcileWorkflow
from workflows.reconcile_models import ReconcileInput, ReconcileReport, RepairStatus

RUN_ID_PREFIX = "cadenza-reconcile-run-"


class BadReconcileInput(InvalidInput, ValueError):
    pass


class ReconcileFailed(CadenzaError, RuntimeError):
    """The run could not finish (a service unreachable for all its attempts); the message says where to look."""


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


async def run_once(
    client: Client, params: ReconcileInput, *, task_queue: str | None = None
) -> tuple[str, ReconcileReport]:
    """Start one reconcile run now (on the workers of `task_queue`) and wait for its report."""
    workflow_id = f"{RUN_ID_PREFIX}{uuid.uuid4().hex[:12]}"
    queue = task_queue or settings().task_queue
    handle = await client.start_workflow(
        ReconcileWorkflow.run, params, id=workflow_id, task_queue=queue, **reconcile_run_options(params)
    )
    try:
        return workflow_id, await handle.result()
    except WorkflowFailureError as err:
        cause = describe_failure(err.cause).reason if err.cause else str(err)
        raise ReconcileFailed(
            f"reconcile run {workflow_id} failed: {cause}. Check that the ERP, payment and inventory services answer "
            "(their URLs: CADENZA_<SERVICE>_URL on the worker), then run it again."
        ) from None


def _repairs_table(report: ReconcileReport) -> Table:
    table = Table("result", "repair", "why", title="Repairs", title_justify="left")
    for outcome in report.repairs:
        failed = outcome.status == RepairStatus.FAILED
        # A repair made says why it was needed; one not made says why not.
        why = outcome.repair.reason if outcome.status == RepairStatus.REPAIRED else outcome.detail
        status = f"[red]{outcome.status.value}[/]" if failed else outcome.status.value
        table.add_row(status, outcome.repair.describe(), why)
    return table


def _unrepaired_table(report: ReconcileReport) -> Table:
    more = report.unrepaired_total - len(report.unrepaired)
    title = "Left for a person"
    if more:
        title += f" (the first {len(report.unrepaired)} of {report.unrepaired_total})"
    table = Table("order", "inconsistency", title=title, title_justify="left")
    for finding in report.unrepaired:
        table.add_row(finding.order_id, Text(finding.message))  # as written: a failure's "[…]" is not markup
    return table


def print_report(report: ReconcileReport, link: str) -> None:
    if report.repairs:
        console.print(_repairs_table(report))
    if report.unrepaired:
        console.print(_unrepaired_table(report))
    for note in report.notes:
        console.print(f"[dim]{note}[/]")
    console.print(f"{report.summary()}.\nWeb UI: {link}")
