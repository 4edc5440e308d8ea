"""The saga's promise, tried the way an operator would break it: cancelling an order that is already compensating,
placing an order id again after its execution is gone, resetting a compensated order. Every outcome is asserted on
the services' own records: nothing live, nothing of another execution touched, nothing refunded that was never
charged."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from activities.consistency import inconsistencies
from cadenza.settings import SERVICE_NAMES
from clients.orders import OrderClosed, OrderIdTaken, cancel_order, place_order, wait_for_result
from starters.adversary.resets import reset_points, reset_to
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.delaying_proxy import DelayingProxy
from workers.worker import order_worker
from workflows.models import Order, OrderProgress, OrderState, Step
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration


async def _place(harness: Harness, order: Order) -> WorkflowHandle:
    return (await place_order(harness.client, order, task_queue=harness.task_queue)).handle


async def _until_state(handle: WorkflowHandle, *states: OrderState, seconds: float = 30) -> OrderProgress:
    async with asyncio.timeout(seconds):
        while (progress := await handle.query(OrderWorkflow.status)).state not in states:
            await asyncio.sleep(0.05)
    return progress


async def _nothing_live(harness: Harness, order: Order) -> None:
    records = await harness.records.for_order(order.order_id)
    assert inconsistencies(OrderState.COMPENSATED, order.total_amount, records) == []
    for charge in records.charges:  # refunded once if it succeeded; a failed charge is never "refunded"
        assert charge["amount_refunded"] == (charge["amount"] if charge["status"] == "succeeded" else 0)


async def test_cancelling_an_order_that_is_compensating_lets_its_compensations_finish(harness, no_faults):
    # Out of stock after the charge: the order compensates, and its refund fails for a while (503 from the fence).
    order = make_order(skus=("SKU-MUG", "SKU-OOS"))
    await harness.faults.script("payment", "error", times=3, match=f"{order.workflow_id}/refund_payment")
    handle = await _place(harness, order)
    await _until_state(handle, OrderState.COMPENSATING)

    for _ in range(2):  # the natural move for a stuck order, made twice
        await cancel_order(harness.client, order.order_id)
        await asyncio.sleep(0.3)

    progress = await wait_for_result(handle)
    assert progress.state == OrderState.COMPENSATED and progress.error_type == "OutOfStock"
    assert [(c.action.value, c.status.value, c.undone) for c in progress.compensations] == [
        ("release_inventory", "done", False),  # the reservation was refused: nothing to release
        ("refund_payment", "done", True),
        ("cancel_erp_order", "done", True),
    ]
    # Ended by its failure, not by the cancel: Failed (a compensated order), not Canceled.
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
    await _nothing_live(harness, order)
    records = await harness.records.for_order(order.order_id)
    assert records.erp_order["status"] == "cancelled" and len(records.charges) == 1


async def test_cancelling_a_closed_order_is_refused_with_its_state(harness):
    order = make_order()
    await wait_for_result(await _place(harness, order))
    with pytest.raises(OrderClosed, match=r"already ended \(completed\)"):
        await cancel_order(harness.client, order.order_id)
    records = await harness.records.for_order(order.order_id)
    assert inconsistencies(OrderState.COMPLETED, order.total_amount, records) == []


async def test_placing_an_order_id_again_after_its_execution_is_gone_touches_nothing_of_the_first(harness):
    first = make_order()
    assert (await wait_for_result(await _place(harness, first))).state == OrderState.COMPLETED
    await harness.client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=harness.client.namespace, workflow_execution=WorkflowExecution(workflow_id=first.workflow_id)
        )
    )
    again = make_order(order_id=first.order_id, skus=("SKU-BOOK",), unit_price=999)
    # Deletion is asynchronous (on a busy dev server it has taken over 30 s): until it is done, placing the id again
    # finds the first execution (REJECT_DUPLICATE) and refuses the other body, so place again until a new one starts.
    async with asyncio.timeout(120):
        while True:
            try:
                placed = await place_order(harness.client, again, task_queue=harness.task_queue)
                break
            except OrderIdTaken:
                await asyncio.sleep(0.5)
    progress = await wait_for_result(placed.handle)

    # Refused at its first step, before anything was applied; its compensations (every step's key fenced, see
    # workflows/order.py LOCAL_FIRST_PATCH) touched nothing of the first order.
    assert progress.state == OrderState.COMPENSATED and progress.failed_step == Step.CREATE_ERP_ORDER
    assert progress.error_type == "OrderExists"
    assert [(c.action.value, c.undone) for c in progress.compensations] == [
        ("release_inventory", False),
        ("refund_payment", False),
        ("cancel_erp_order", False),
    ]
    records = await harness.records.for_order(first.order_id)
    assert inconsistencies(OrderState.COMPLETED, first.total_amount, records) == []


async def _reset_to_first_workflow_task(harness: Harness, handle: WorkflowHandle) -> WorkflowHandle:
    """What the Web UI's Reset button does with "first workflow task": a new run replays from the start."""
    history = await handle.fetch_history()
    first_task_completed = reset_points(history.events)[0]
    return await reset_to(harness.client, handle.id, history.run_id, first_task_completed, "test: reset a closed order")


async def test_resetting_a_compensated_order_cannot_revive_it(harness):
    order = make_order(token="tok_chargeDeclined")
    handle = await _place(harness, order)
    assert (await wait_for_result(handle)).state == OrderState.COMPENSATED
    before = await harness.records.for_order(order.order_id)

    progress = await wait_for_result(await _reset_to_first_workflow_task(harness, handle))

    assert progress.state == OrderState.COMPENSATED
    assert progress.error_type == "RequestFenced"  # the services refused the compensated step's key
    await _nothing_live(harness, order)
    assert await harness.records.for_order(order.order_id) == before  # nothing applied, nothing undone twice


async def test_resetting_an_order_cancelled_in_its_last_step_ends_compensated_not_completed(harness, no_faults):
    order = make_order()
    # The confirmation is held back long enough to cancel while it is in flight.
    await harness.faults.script("erp", "stall", times=1, match=f"{order.workflow_id}/confirm_erp_order")
    handle = await _place(harness, order)
    async with asyncio.timeout(30):
        while ((await harness.records.for_order(order.order_id)).erp_order or {}).get("status") != "confirmed":
            await asyncio.sleep(0.05)
    await handle.cancel()
    assert (await wait_for_result(handle)).reason == "cancelled on request"
    await _nothing_live(harness, order)

    progress = await wait_for_result(await _reset_to_first_workflow_task(harness, handle))

    assert progress.state == OrderState.COMPENSATED  # before fencing: `completed`, with nothing live
    await _nothing_live(harness, order)
    records = await harness.records.for_order(order.order_id)
    assert [r["status"] for r in records.reservations] == ["released"] and len(records.charges) == 1


# ---- requests that reach a service after the worker gave up on them ---------------------------------------------

# Each forward request, and its service. The delay is past the worker's HTTP timeout, so the order is cancelled and
# compensated while the request is still on its way; then it arrives.
FORWARD_REQUESTS = {
    "create_erp_order": "erp",
    "charge_payment": "payment",
    "reserve_inventory": "inventory",
    "confirm_erp_order": "erp",
    "commit_inventory": "inventory",
}
LATE_BY_S = 9.0


async def test_a_request_arriving_after_its_order_was_cancelled_and_compensated_changes_nothing(harness: Harness):
    proxies = {name: DelayingProxy(harness.config.service_url(name)) for name in SERVICE_NAMES}
    async with contextlib.AsyncExitStack() as stack:
        for proxy in proxies.values():
            await stack.enter_async_context(proxy)
        endpoints = {
            name: dataclasses.replace(endpoint, base_url=proxies[name].url)
            for name, endpoint in harness.config.endpoints().items()
        }
        task_queue = f"late-{uuid.uuid4().hex}"
        await stack.enter_async_context(order_worker(harness.client, task_queue=task_queue, endpoints=endpoints))
        orders = {operation: make_order() for operation in FORWARD_REQUESTS}
        outcomes = await asyncio.gather(
            *(
                _cancel_while_held(harness, proxies[service], orders[operation], operation, task_queue)
                for operation, service in FORWARD_REQUESTS.items()
            )
        )

    for (operation, late_status), order in zip(outcomes, orders.values(), strict=True):
        # The late request was refused (fenced creation, or a confirm/commit of a record already undone)...
        assert late_status == 409, f"{operation} arrived late and was answered {late_status}"
        # ...and after it, nothing is live at any service.
        await _nothing_live(harness, order)


async def _cancel_once_held(
    harness: Harness, proxy: DelayingProxy, order: Order, operation: str, task_queue: str, *, held_s: float
) -> tuple[WorkflowHandle, OrderProgress]:
    """Place `order`, hold its `operation` request in `proxy` for `held_s`, cancel the order as soon as the request
    reached the proxy, and wait for the order to end."""
    match = f"{order.workflow_id}/{operation}"
    proxy.delay(match, held_s)
    handle = (await place_order(harness.client, order, task_queue=task_queue)).handle
    async with asyncio.timeout(30):
        while not any(match in request.head for request in proxy.requests):
            await asyncio.sleep(0.01)
    await handle.cancel()
    return handle, await wait_for_result(handle)


async def _cancel_while_held(
    harness: Harness, proxy: DelayingProxy, order: Order, operation: str, task_queue: str
) -> tuple[str, int | None]:
    match = f"{order.workflow_id}/{operation}"
    _, progress = await _cancel_once_held(harness, proxy, order, operation, task_queue, held_s=LATE_BY_S)
    assert (progress.state, progress.reason) == (OrderState.COMPENSATED, "cancelled on request")
    late = await proxy.answered(match, timeout=LATE_BY_S + 20)
    assert late.forwarded_at is not None
    return operation, late.status


# Long enough to cancel the order while the request is held, short enough that the call still answers within its
# local attempt's time limit (workflows/policies.py, LOCAL_ATTEMPT_TIMEOUT).
HELD_IN_THE_LOST_TASK_S = 0.15


async def test_calls_of_a_lost_workflow_task_are_undone_when_a_cancel_now_comes_first(harness: Harness):
    """Local first attempts are recorded only when their workflow task completes. Here the task that made all five
    calls is refused at completion, because a cancel arrived while its last call was on its way: the order then runs
    again from its start with the cancel first, so it stops at its first step — before the steps whose calls had
    gone through, and must still undo them (workflows/order.py, LOCAL_FIRST_PATCH)."""
    proxy = DelayingProxy(harness.config.service_url("inventory"))
    async with proxy, contextlib.AsyncExitStack() as stack:
        endpoints = harness.config.endpoints()
        endpoints["inventory"] = dataclasses.replace(endpoints["inventory"], base_url=proxy.url)
        task_queue = f"lost-{uuid.uuid4().hex}"
        await stack.enter_async_context(order_worker(harness.client, task_queue=task_queue, endpoints=endpoints))
        order = make_order()
        handle, progress = await _cancel_once_held(
            harness, proxy, order, "commit_inventory", task_queue, held_s=HELD_IN_THE_LOST_TASK_S
        )

    refused = [
        event.workflow_task_failed_event_attributes.cause
        async for event in handle.fetch_history_events()
        if event.HasField("workflow_task_failed_event_attributes")
    ]
    # The scenario happened: the task that ran the calls was refused, not completed.
    assert refused == [WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND]
    assert (progress.state, progress.reason) == (OrderState.COMPENSATED, "cancelled on request")
    assert progress.failed_step == Step.CREATE_ERP_ORDER  # where the run that counted stopped
    records = await harness.records.for_order(order.order_id)
    assert len(records.charges) == 1 and records.charges[0]["status"] == "succeeded"  # the lost task did charge
    await _nothing_live(harness, order)  # and it was refunded, released and cancelled all the same
