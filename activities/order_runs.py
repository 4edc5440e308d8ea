"""Which run of an order decides its fate: asked by `cadenza audit` and by the reconciler alike, so the two can never
judge one order by different runs.

A workflow id can have several runs: a reset, or the same order id placed again after its execution closed, starts a
new one, and visibility lists every run, the superseded ones too, in an order no caller should rely on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from cadenza.errors import InvalidInput
from workflows.models import WORKFLOW_ID_PREFIX, workflow_id_for

_ORDER_ID_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,64}")
"""The start of an order id (letters, digits, `_` and `-`): what `--prefix` may be, quoted into a visibility query."""


def checked_prefix(prefix: str) -> str:
    """`prefix` if it can begin an order id; `InvalidInput` (exit 2) otherwise, before any query is built with it."""
    if not _ORDER_ID_PREFIX.fullmatch(prefix):
        raise InvalidInput(
            f"--prefix {prefix!r} cannot begin an order id: use letters, digits, '_' and '-' only (at most 64)"
        )
    return prefix


def current_runs(executions: Iterable[WorkflowExecution]) -> dict[str, WorkflowExecution]:
    """The run of each order that decides its fate, by order id: the open one if there is one (a workflow id has at
    most one), otherwise the newest. An older run's outcome must never mask the current one: after a reset, the reset
    run is the order, whatever the run it replaced had reached."""
    current: dict[str, WorkflowExecution] = {}
    for execution in executions:
        order_id = execution.id.removeprefix(WORKFLOW_ID_PREFIX)
        kept = current.get(order_id)
        if kept is None or _recency(execution) > _recency(kept):
            current[order_id] = execution
    return current


def _recency(execution: WorkflowExecution) -> tuple[bool, datetime]:
    return execution.status == WorkflowExecutionStatus.RUNNING, execution.start_time


def orders_query(*, prefix: str = "", started_since: datetime | None = None) -> str:
    """The visibility query for the orders whose id starts with `prefix` (all by default)."""
    query = 'WorkflowType="OrderWorkflow"'
    if started_since is not None:
        query += f' AND StartTime >= "{started_since.strftime("%Y-%m-%dT%H:%M:%SZ")}"'
    if prefix:
        query += f' AND WorkflowId STARTS_WITH "{WORKFLOW_ID_PREFIX}{checked_prefix(prefix)}"'
    return query


async def order_runs(client: Client, query: str) -> dict[str, WorkflowExecution]:
    """The current run of every order the visibility `query` lists, by order id."""
    return current_runs([execution async for execution in client.list_workflows(query)])


async def current_run_of(client: Client, order_id: str) -> WorkflowExecution | None:
    """The current run of one order, by the same rule, or None when Temporal has no run of it (never placed, or its
    executions deleted: retention deletes closed ones)."""
    return (await order_runs(client, f'WorkflowId="{workflow_id_for(order_id)}"')).get(order_id)


async def described_run(client: Client, order_id: str) -> WorkflowExecution | None:
    """The order's current run as the server itself keeps it, or None when it has none. `describe()` without a run id
    answers with the workflow id's newest run — the one `current_runs` picks, unless that very run was deleted while
    older ones remain (then none) — and, unlike visibility, is never behind: what the last check before a repair
    needs."""
    try:
        return await client.get_workflow_handle(workflow_id_for(order_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
