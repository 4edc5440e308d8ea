"""`cadenza audit` on a real stack: it judges each order by its current run, and a completed order's charge net of
refunds. Assertions are on `run_audit`'s report over Temporal's visibility and the services' own records."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from activities import audit as audit_module
from activities.audit import AuditReport, run_audit
from clients.orders import place_order, wait_for_result
from starters.adversary.resets import reset_points, reset_to
from tests.conftest import make_order
from tests.integration.conftest import Harness
from workers.worker import order_worker
from workflows.models import Order, OrderState
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration


async def _audit_when(harness: Harness, order: Order, settled) -> AuditReport:
    """The audit of one order, once visibility has caught up with what the test did (it lags by up to a second)."""
    for _ in range(100):
        report = await run_audit(harness.client, harness.records, prefix=order.order_id)
        if settled(report):
            return report
        await asyncio.sleep(0.1)
    return report


async def _runs(harness: Harness, order: Order) -> int:
    return len([e async for e in harness.client.list_workflows(f'WorkflowId="{order.workflow_id}"')])


async def _reset_to_first_task(harness: Harness, handle: WorkflowHandle) -> str:
    """`temporal workflow reset --type FirstWorkflowTask`: a new run replaces the order's run; returns its run id."""
    history = await handle.fetch_history()
    first_task = reset_points(history.events)[0]
    reset_run = await reset_to(
        harness.client, handle.id, history.run_id, first_task, "audit test: reset a completed order"
    )
    return reset_run.run_id


async def test_a_reset_order_is_judged_by_its_current_run_not_the_one_it_replaced(harness: Harness):
    # The order runs on a queue of its own, so that the run a reset starts waits (open) until a worker comes back.
    task_queue, endpoints = f"audit-reset-{uuid.uuid4().hex}", harness.config.endpoints()
    order = make_order()
    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints):
        placed = await place_order(harness.client, order, task_queue=task_queue)
        assert (await wait_for_result(placed.handle)).state == OrderState.COMPLETED

    await _reset_to_first_task(harness, placed.handle)
    # Two runs now: the completed one, and the reset one, open. The order is not done until the open one is.
    report = await _audit_when(harness, order, lambda r: any(o.startswith("running") for o in r.outcomes))
    [problem] = report.problems
    assert problem.order_id == order.order_id
    assert problem.message.startswith("not closed as completed or compensated: running"), problem.message
    assert await _runs(harness, order) == 2

    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints):
        # The reset run repeats every step with the same idempotency keys: the services answer from the first run.
        handle = harness.client.get_workflow_handle_for(OrderWorkflow.run, order.workflow_id)
        assert (await wait_for_result(handle)).state == OrderState.COMPLETED
    report = await _audit_when(harness, order, lambda r: r.outcomes.get("completed") == 1)
    assert (report.orders, report.problems) == (1, [])
    assert len((await harness.records.for_order(order.order_id)).charges) == 1


async def test_a_partial_refund_of_a_completed_order_fails_the_audit(harness: Harness):
    order = make_order()
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    result = await wait_for_result(placed.handle)
    assert result.state == OrderState.COMPLETED
    assert (await _audit_when(harness, order, lambda r: r.orders == 1 and not r.problems)).clean

    payment = harness.config.endpoints()["payment"]
    refund = await harness.http.post(
        f"{payment.base_url}/charges/{result.charge_id}/refunds", json={"amount": 1}, headers=payment.auth_headers
    )
    assert refund.status_code == 201

    report = await run_audit(harness.client, harness.records, prefix=order.order_id)
    assert [p.message for p in report.problems] == [
        f"charge {result.charge_id} keeps {order.total_amount - 1} ({order.total_amount} charged, 1 refunded), "
        f"expected {order.total_amount}"
    ]


async def test_an_order_visibility_still_lists_as_running_is_judged_as_it_closed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    """Visibility is written after the fact: an audit right after a burst can be handed an order as running that has
    closed since. The audit must judge it as the server keeps it, not report a finished order as a problem."""
    order = make_order()
    queue = f"audit-later-{uuid.uuid4().hex}"  # no worker yet: the order stays open until visibility has listed it
    placed = await place_order(harness.client, order, task_queue=queue, eager_start=False)
    listed_open = None
    for _ in range(100):
        async for execution in harness.client.list_workflows(f'WorkflowId="{order.workflow_id}"'):
            listed_open = execution
        if listed_open is not None:
            break
        await asyncio.sleep(0.1)
    assert listed_open is not None and listed_open.status == WorkflowExecutionStatus.RUNNING
    async with order_worker(harness.client, task_queue=queue, endpoints=harness.config.endpoints()):
        assert (await wait_for_result(placed.handle)).state == OrderState.COMPLETED

    async def behind(_client, _query):  # what visibility said before the order closed
        return {order.order_id: listed_open}

    monkeypatch.setattr(audit_module, "order_runs", behind)
    report = await run_audit(harness.client, harness.records, prefix=order.order_id)

    assert (dict(report.outcomes), report.problems) == ({"completed": 1}, [])
