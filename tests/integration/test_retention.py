"""Retention on a real stack: executions deleted (what namespace retention does to closed ones routinely, what an
operator does by hand to any), then the reconciler and the audit run. Nothing fulfilled may be undone, and nothing
live may be left unreported. Every assertion is on the services' own records and on the reports."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowHandle

from activities.audit import run_audit
from activities.consistency import fulfilment_begun, live_records
from activities.order_runs import described_run
from activities.reconcile_plan import FULFILLED_NOTE
from activities.records import OrderRecords
from clients.orders import cancel_order, place_order, wait_for_result
from starters.reconcile.command import run_once
from starters.record_histories import worker_refusing_first_refund
from tests.conftest import make_order
from tests.integration.conftest import Harness
from workflows.models import Order, OrderProgress, OrderState, Step
from workflows.order import OrderWorkflow
from workflows.reconcile_models import ReconcileInput, RepairAction, RepairStatus

pytestmark = pytest.mark.integration

# The reconciler leaves alone what changed this recently. A few seconds, not its 2 minutes: enough for a deleted
# order's attempt in flight to have landed (and met its scripted fault) before anything is judged.
GRACE = timedelta(seconds=2)
# Scripted 503s: more than a step goes through before its order is deleted, so it stays where it is until then.
_OUTAGE = 100
# 2 lines × 2 units × 3,000.00: 12,000.00 EUR, above what the risk check approves without a person (10,000.00).
_FOR_REVIEW = 300_000

Reached = Callable[[OrderProgress, OrderRecords], bool]


async def delete_execution(harness: Harness, order: Order) -> None:
    """`temporal workflow delete`: an open execution is terminated first. Deletion is asynchronous (see FAST_DELETION
    in conftest.py), and visibility may forget the execution later still: until both are done, the reconciler and the
    audit would still see the order's last run instead of none."""
    client = harness.client
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=order.workflow_id)
        )
    )
    listed = f'WorkflowId="{order.workflow_id}"'
    async with asyncio.timeout(120):
        while await described_run(client, order.order_id) or (await client.count_workflows(listed)).count:
            await asyncio.sleep(0.2)


def _in_state(*states: OrderState) -> Reached:
    return lambda progress, _: progress.state in states


def _charged_and_reserving(progress: OrderProgress, records: OrderRecords) -> bool:
    return bool(records.live_charges) and progress.current_step == Step.RESERVE_INVENTORY


def _confirmed_not_committed(progress: OrderProgress, records: OrderRecords) -> bool:
    confirmed = records.erp_order is not None and records.erp_order["status"] == "confirmed"
    return confirmed and bool(records.reservations_in("held"))


async def _until(harness: Harness, handle: WorkflowHandle, order: Order, reached: Reached) -> None:
    async with asyncio.timeout(60):
        while not reached(await handle.query(OrderWorkflow.status), await harness.records.for_order(order.order_id)):
            await asyncio.sleep(0.1)


async def _bring(harness: Harness, order: Order, reached: Reached, *, task_queue: str | None = None) -> WorkflowHandle:
    """Place `order` and wait until it has `reached` the state its execution is deleted in."""
    handle = (await place_order(harness.client, order, task_queue=task_queue or harness.task_queue)).handle
    await _until(harness, handle, order, reached)
    return handle


async def _cancelled_after_its_charge(harness: Harness, order: Order) -> None:
    handle = await _bring(harness, order, _charged_and_reserving)
    await cancel_order(harness.client, order.order_id)
    await _until(harness, handle, order, _in_state(OrderState.COMPENSATED))


async def test_deleting_a_completed_orders_execution_undoes_nothing_of_it(harness: Harness):
    order = make_order(order_id=f"ret-{uuid.uuid4().hex[:8]}-completed")
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    assert (await wait_for_result(placed.handle)).state == OrderState.COMPLETED
    await delete_execution(harness, order)
    fulfilled = await harness.records.for_order(order.order_id)

    _, report = await run_once(
        harness.client, ReconcileInput(prefix=order.order_id, grace=timedelta(0)), task_queue=harness.task_queue
    )

    assert report.repairs == [] and report.clean, report
    assert f"order {order.order_id}: {FULFILLED_NOTE}" in report.notes
    assert await harness.records.for_order(order.order_id) == fulfilled  # the services' own records: untouched
    [charge] = fulfilled.charges
    assert (fulfilled.erp_order["status"], charge["refunded"]) == ("confirmed", False)
    assert [r["status"] for r in fulfilled.reservations] == ["committed"]
    audit = await run_audit(harness.client, harness.records, prefix=order.order_id)
    assert (dict(audit.outcomes), audit.problems) == ({"fulfilled, execution deleted": 1}, [])


async def test_executions_deleted_in_every_state_leave_nothing_fulfilled_undone_and_nothing_live_unreported(
    harness: Harness, no_faults
):
    prefix = f"ret-{uuid.uuid4().hex[:8]}-"
    orders = {
        name: make_order(order_id=f"{prefix}{name}", **kw)
        for name, kw in {
            "completed": {},
            "declined": {"token": "tok_chargeDeclined"},
            "cancelled": {},
            "awaiting-review": {"unit_price": _FOR_REVIEW},
            "needs-attention": {"skus": ("SKU-MUG", "SKU-OOS")},  # out of stock after its charge; its refund refused
            "running-charged": {},  # charged, its reservation failing
            "running-confirming": {},  # ERP order confirmed, its stock's commit failing
        }.items()
    }
    # One at a time: each script is a read-modify-write of the service's fault settings.
    for name, operation in (
        ("cancelled", "reserve_inventory"),
        ("running-charged", "reserve_inventory"),
        ("running-confirming", "commit_inventory"),
    ):
        key = f"{orders[name].workflow_id}/{operation}"
        await harness.faults.script("inventory", "error", times=_OUTAGE, match=key)

    refusing_queue = f"retention-refund-refused-{uuid.uuid4().hex}"
    async with worker_refusing_first_refund(harness.client, harness.http, refusing_queue, harness.config.endpoints()):
        await asyncio.gather(
            _bring(harness, orders["completed"], _in_state(OrderState.COMPLETED)),
            _bring(harness, orders["declined"], _in_state(OrderState.COMPENSATED)),
            _cancelled_after_its_charge(harness, orders["cancelled"]),
            _bring(harness, orders["awaiting-review"], _in_state(OrderState.AWAITING_REVIEW)),
            _bring(
                harness, orders["needs-attention"], _in_state(OrderState.NEEDS_ATTENTION), task_queue=refusing_queue
            ),
            _bring(harness, orders["running-charged"], _charged_and_reserving),
            _bring(harness, orders["running-confirming"], _confirmed_not_committed),
        )
        await asyncio.gather(*(delete_execution(harness, order) for order in orders.values()))
    await asyncio.sleep(GRACE.total_seconds())
    before = {name: await harness.records.for_order(order.order_id) for name, order in orders.items()}

    audit = await run_audit(harness.client, harness.records, prefix=prefix)
    assert dict(audit.outcomes) == {
        "fulfilled, execution deleted": 1,
        "nothing live, no execution": 2,  # declined, cancelled
        "live records, no execution": 3,  # awaiting review, needs attention, charged
        "partly fulfilled, execution deleted": 1,  # confirmed, not committed
    }, audit.problems
    assert _names(prefix, [p.order_id for p in audit.problems]) == {
        "awaiting-review",
        "needs-attention",
        "running-charged",
        "running-confirming",
    }

    params = ReconcileInput(prefix=prefix, grace=GRACE)
    _, report = await run_once(harness.client, params, task_queue=harness.task_queue)
    after = {name: await harness.records.for_order(order.order_id) for name, order in orders.items()}

    assert (report.orders, report.open_orders, report.deferred) == (len(orders), 0, 0)
    # Nothing fulfilled is undone, nor anything of an order whose fulfilment began.
    for name in (name for name, records in before.items() if fulfilment_begun(records)):
        assert after[name] == before[name], name
    assert f"order {orders['completed'].order_id}: {FULFILLED_NOTE}" in report.notes
    # The charges of orders that never began to ship are refunded, once each.
    assert sorted((o.repair.action, o.repair.order_id, o.status) for o in report.repairs) == [
        (RepairAction.REFUND_CHARGE, orders[name].order_id, RepairStatus.REPAIRED)
        for name in ("needs-attention", "running-charged")
    ]
    for name in ("needs-attention", "running-charged"):
        assert [c["amount_refunded"] for c in after[name].succeeded_charges] == [orders[name].total_amount]
    # Whatever is still live is raised for a person, and the audit names the very same orders.
    raised = _names(prefix, [f.order_id for f in report.unrepaired])
    assert raised == {"awaiting-review", "running-charged", "running-confirming"}
    assert {name for name, records in after.items() if live_records(records)} - {"completed"} == raised
    audit = await run_audit(harness.client, harness.records, prefix=prefix)
    assert _names(prefix, [p.order_id for p in audit.problems]) == raised
    assert audit.outcomes["fulfilled, execution deleted"] == 1


def _names(prefix: str, order_ids: list[str]) -> set[str]:
    return {order_id.removeprefix(prefix) for order_id in order_ids}
