"""Every demo scenario and the failure cases behind them, proven by what the services themselves recorded."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowFailureError

from activities.consistency import inconsistencies, stock_inconsistencies
from clients.orders import place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.conftest import Harness
from workflows.models import Order, OrderProgress, OrderState, Step
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration


async def _fulfil(harness: Harness, order: Order) -> OrderProgress:
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    return await wait_for_result(placed.handle)


async def _assert_consistent(harness: Harness, order: Order, state: OrderState):
    records = await harness.records.for_order(order.order_id)
    assert inconsistencies(state, order.total_amount, records) == []
    assert stock_inconsistencies(await harness.records.stock(), await harness.records.all_reservations()) == []
    return records


async def _compensated_at(harness: Harness, order: Order, step: Step, error_type: str):
    result = await _fulfil(harness, order)
    assert (result.state, result.failed_step, result.error_type) == (OrderState.COMPENSATED, step, error_type)
    return await _assert_consistent(harness, order, OrderState.COMPENSATED)


async def test_happy_path_confirms_charges_once_and_ships_stock(harness):
    order = make_order()
    stock_before = await harness.records.stock()
    result = await _fulfil(harness, order)
    assert result.state == OrderState.COMPLETED
    records = await _assert_consistent(harness, order, OrderState.COMPLETED)
    assert records.erp_order["status"] == "confirmed"
    [charge] = records.charges
    assert (charge["amount"], charge["status"], charge["refunded"]) == (order.total_amount, "succeeded", False)
    assert charge["id"] == result.charge_id
    stock_after = await harness.records.stock()
    for line in order.lines:
        assert stock_after[line.sku]["on_hand"] == stock_before[line.sku]["on_hand"] - line.quantity


async def test_declined_card_charges_nothing_and_cancels_the_erp_order(harness):
    order = make_order(token="tok_chargeDeclined")
    records = await _compensated_at(harness, order, Step.CHARGE_PAYMENT, "CardDeclined")
    assert records.erp_order["status"] == "cancelled"
    assert [c["status"] for c in records.charges] == ["failed"]  # one attempt: a decline is never retried
    assert records.reservations == []


async def test_out_of_stock_refunds_the_one_charge_and_restores_stock(harness):
    order = make_order(skus=("SKU-BOOK", "SKU-OOS"))
    stock_before = await harness.records.stock()
    records = await _compensated_at(harness, order, Step.RESERVE_INVENTORY, "OutOfStock")
    [charge] = records.charges
    assert charge["refunded"] is True and charge["amount_refunded"] == order.total_amount
    assert records.erp_order["status"] == "cancelled"
    assert (await harness.records.stock())["SKU-BOOK"]["on_hand"] == stock_before["SKU-BOOK"]["on_hand"]


async def test_payment_503s_are_retried_into_exactly_one_charge(harness, no_faults):
    order = make_order()
    stats_before = await harness.faults.stats("payment")
    await harness.faults.script("payment", "error", times=2, match=f"{order.workflow_id}/charge_payment")
    result = await _fulfil(harness, order)
    assert result.state == OrderState.COMPLETED
    records = await _assert_consistent(harness, order, OrderState.COMPLETED)
    assert len(records.charges) == 1
    stats_after = await harness.faults.stats("payment")
    assert stats_after["errors_injected"] - stats_before["errors_injected"] == 2


async def test_rate_limited_calls_wait_and_succeed(harness, no_faults):
    order = make_order()
    await harness.faults.script("erp", "rate_limit", times=1, match=f"{order.workflow_id}/create_erp_order")
    result = await _fulfil(harness, order)
    assert result.state == OrderState.COMPLETED
    await _assert_consistent(harness, order, OrderState.COMPLETED)


async def test_same_order_placed_twice_runs_once(harness):
    order = make_order()
    first = await place_order(harness.client, order, task_queue=harness.task_queue)
    second = await place_order(harness.client, order, task_queue=harness.task_queue)
    assert second.duplicate and second.handle.result_run_id == first.handle.result_run_id
    await wait_for_result(first.handle)
    third = await place_order(harness.client, order, task_queue=harness.task_queue)  # after it closed, too
    assert third.duplicate
    records = await _assert_consistent(harness, order, OrderState.COMPLETED)
    assert len(records.charges) == 1


@pytest.mark.parametrize(
    ("service", "operation"),
    [("erp", "create_erp_order"), ("payment", "charge_payment"), ("inventory", "reserve_inventory")],
)
async def test_lost_reply_is_retried_without_a_second_effect(harness, no_faults, service, operation):
    # Commit-then-stall: the service stores the effect, then answers after the worker's HTTP timeout (5 s). The
    # retry carries the same idempotency key and gets the first answer replayed.
    order = make_order()
    current = await harness.faults.get(service)
    await harness.faults.set(
        service,
        {
            **current,
            "stall_ms": 6000,
            "script": [{"kind": "stall", "times": 1, "match": f"{order.workflow_id}/{operation}"}],
        },
    )
    replays_before = (await harness.faults.stats(service))["idempotent_replays"]  # the counter spans the session
    result = await _fulfil(harness, order)
    assert result.state == OrderState.COMPLETED
    records = await _assert_consistent(harness, order, OrderState.COMPLETED)
    assert len(records.charges) == 1 and len(records.reservations) == 1
    assert (await harness.faults.stats(service))["idempotent_replays"] - replays_before >= 1


async def test_cancel_while_a_step_is_in_flight_compensates_what_it_did(harness, no_faults):
    # The reservation is held up for 2 s after it committed; the cancel arrives meanwhile. The workflow waits
    # for that attempt, then releases the reservation, refunds the charge and cancels the ERP order.
    order = make_order()
    await harness.faults.set(
        "inventory",
        {
            "stall_ms": 2000,
            "script": [{"kind": "stall", "times": 1, "match": f"{order.workflow_id}/reserve_inventory"}],
        },
    )
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    for _ in range(100):
        if (await harness.records.for_order(order.order_id)).reservations:
            break
        await asyncio.sleep(0.05)
    await placed.handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await placed.handle.result()
    progress = await placed.handle.query(OrderWorkflow.status)
    assert progress.state == OrderState.COMPENSATED and progress.reason == "cancelled on request"
    records = await _assert_consistent(harness, order, OrderState.COMPENSATED)
    assert [r["status"] for r in records.reservations] == ["released"]
    assert [c["refunded"] for c in records.charges] == [True]
    assert records.erp_order["status"] == "cancelled"


async def test_orders_are_filterable_by_status_in_visibility(harness):
    completed, compensated = make_order(), make_order(token="tok_insufficientFunds")
    for order in (completed, compensated):
        await _fulfil(harness, order)
    query = f'OrderStatus="compensated" AND CustomerId="c-17" AND OrderTotal={compensated.total_amount}'
    for _ in range(50):  # visibility is eventually consistent
        found = {execution.id async for execution in harness.client.list_workflows(query)}
        if compensated.workflow_id in found:
            break
        await asyncio.sleep(0.1)
    assert compensated.workflow_id in found
    assert completed.workflow_id not in found
