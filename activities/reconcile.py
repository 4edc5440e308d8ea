"""The reconciler's two activities: `check` reads Temporal's visibility and the services' records once and plans
(activities/reconcile_plan.py decides); `repair` makes one repair, with an idempotency key derived from the record.

Reads go through `ServiceRecords` (the audit's reader), writes through the same `ServiceClient` as the order
activities, so a repair's errors are classified like every other call's (retryable 5xx/429, final 4xx).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from temporalio import activity
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from activities.audit import order_outcome
from activities.errors import error_for_response
from activities.http import ServiceClient
from activities.order_runs import current_run_of, described_run, order_runs, orders_query
from activities.reconcile_plan import ObservedOrder, last_change, plan_reconciliation, stock_findings, survey_of
from activities.records import ServiceRecords
from activities.stuck import open_executions, stuck_orders
from cadenza.settings import ServiceEndpoint
from workflows import activity_types
from workflows.reconcile_models import (
    Finding,
    ReconcileInput,
    Repair,
    RepairAction,
    RepairOutcome,
    RepairStatus,
    Survey,
)


@dataclass(frozen=True)
class _Request:
    service: str
    path: str
    body: dict[str, Any] | None = None
    already_done: str | None = None
    """The 409 code that means someone else already undid the record (releasing and cancelling are no-ops then)."""


_REQUESTS = {
    RepairAction.REFUND_CHARGE: _Request("payment", "/charges/{}/refunds", {}, "charge_already_refunded"),
    RepairAction.RELEASE_RESERVATION: _Request("inventory", "/reservations/{}/release"),
    RepairAction.CANCEL_ERP_ORDER: _Request("erp", "/orders/{}/cancel"),
}


def order_view(order_id: str, execution: WorkflowExecution | None) -> ObservedOrder:
    if execution is None:
        return ObservedOrder(order_id, None)
    return ObservedOrder(
        order_id,
        order_outcome(execution),
        open=execution.status == WorkflowExecutionStatus.RUNNING,
        closed_at=execution.close_time,
        started_at=execution.start_time,
    )


async def stuck_findings(client: Client, prefix: str) -> list[Finding]:
    """Every open order whose workflow task keeps failing, whenever it started: the window is about records that may
    need a repair, while a stuck order needs a person however old it is (an order can wait in needs_attention for
    days). Open orders only, so this costs one describe per open order."""
    stuck = await stuck_orders(client, await open_executions(client, orders_query(prefix=prefix)))
    return [Finding(order_id=order_id, message=found.summary()) for order_id, found in sorted(stuck.items())]


async def retention(client: Client) -> timedelta | None:
    """How long the namespace keeps closed executions; None if it keeps them for ever."""
    described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    ttl = described.config.workflow_execution_retention_ttl
    return ttl.ToTimedelta() if ttl.seconds or ttl.nanos else None


class ReconcileActivities:
    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint]) -> None:
        self._records = ServiceRecords(http, endpoints)
        self._clients = {name: ServiceClient(http, endpoint) for name, endpoint in endpoints.items()}

    @activity.defn(name=activity_types.CHECK_ORDERS.name)
    async def check_orders(self, params: ReconcileInput) -> Survey:
        """One pass over the services' records plus one visibility query for the window's orders."""
        client = activity.client()
        now = datetime.now(UTC)
        since = now - params.window
        # Stock before reservations: see stock_findings.
        stock = await self._records.stock() if not params.prefix else None
        records = {k: v for k, v in (await self._records.everything()).items() if k.startswith(params.prefix)}
        window = orders_query(prefix=params.prefix, started_since=since)
        executions: dict[str, WorkflowExecution | None] = dict(await order_runs(client, window))
        # Orders the services wrote to within the window but whose current run started before it, or that have none:
        # few, so one query each.
        for order_id, order_records in records.items():
            changed = last_change(order_records)
            if order_id not in executions and changed is not None and changed >= since:
                executions[order_id] = await current_run_of(client, order_id)
        plan = plan_reconciliation(
            (order_view(order_id, execution) for order_id, execution in executions.items()),
            records,
            now=now,
            grace=params.grace,
            retention=await retention(client),
        )
        plan.problems += await stuck_findings(client, params.prefix)  # counted in cadenza_inconsistencies with the rest
        findings: list[Finding] = []
        notes: list[str] = []
        if stock is not None:
            all_reservations = [r for order_records in records.values() for r in order_records.reservations]
            findings, notes = stock_findings(stock, all_reservations, now=now, grace=params.grace)
        else:
            notes.append("stock not checked: it is shared by every order, and this run looks at some (--prefix)")
        return survey_of(plan, max_repairs=params.max_repairs, stock=findings, notes=notes)

    @activity.defn(name=activity_types.REPAIR.name)
    async def repair(self, repair: Repair) -> RepairOutcome:
        # A closed execution stays as it ended unless someone resets it (or places an order id that has no execution
        # after all): then the order is live again and belongs to its workflow, not to us. Asked of the execution
        # itself, which visibility may trail.
        now_judged = order_view(repair.order_id, await described_run(activity.client(), repair.order_id)).judged_as
        if now_judged != repair.judged_as:
            return RepairOutcome(
                repair=repair,
                status=RepairStatus.SKIPPED,
                detail=f"order was {repair.judged_as} when checked, is {now_judged} now: left for the next run",
            )
        request = _REQUESTS[repair.action]
        client = self._clients[request.service]
        response = await client.post(
            request.path.format(repair.target),
            request.body,
            idempotency_key=repair.idempotency_key,
            accept=(409,) if request.already_done else (),
        )
        if response.status_code == 409:
            error = response.json().get("error", {})
            if error.get("code") != request.already_done:
                raise error_for_response(client.name, response)
            return RepairOutcome(repair=repair, status=RepairStatus.ALREADY_DONE, detail=error.get("message", ""))
        detail = f"{repair.describe()}: {repair.reason}"
        return RepairOutcome(repair=repair, status=RepairStatus.REPAIRED, detail=detail)

    def all(self) -> list[Callable[..., Any]]:
        return [self.check_orders, self.repair]
