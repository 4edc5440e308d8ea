"""No order half-applied, nobody charged twice, whatever fails: lost replies on every mutating call, cancellation at
every step, and an audit that catches what is wrong. Assertions are on the services' own records."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from temporalio.client import WorkflowFailureError

from activities.audit import run_audit
from activities.consistency import inconsistencies, stock_inconsistencies
from activities.records import OrderRecords
from clients.orders import place_order, wait_for_result
from starters.load import LoadReport, generate_orders, new_run_id, run_load
from tests.conftest import make_order
from tests.integration.conftest import Harness
from workflows.models import Order, OrderState
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration

SERVICE_OF = {
    "create_erp_order": "erp",
    "charge_payment": "payment",
    "reserve_inventory": "inventory",
    "confirm_erp_order": "erp",
    "commit_inventory": "inventory",
    "cancel_erp_order": "erp",
    "refund_payment": "payment",
    "release_inventory": "inventory",
}

# When each forward operation's effect is visible in the services' records.
EFFECT_RECORDED: dict[str, Callable[[OrderRecords], bool]] = {
    "create_erp_order": lambda r: r.erp_order is not None,
    "charge_payment": lambda r: bool(r.charges),
    "reserve_inventory": lambda r: bool(r.reservations),
    "confirm_erp_order": lambda r: r.erp_order is not None and r.erp_order["status"] == "confirmed",
    "commit_inventory": lambda r: bool(r.reservations_in("committed")),
}


async def _stall(harness: Harness, order: Order, operation: str, stall_ms: int) -> None:
    """The next call of `operation` for this order commits, then its answer is held for `stall_ms`."""
    service = SERVICE_OF[operation]
    config = await harness.faults.get(service)
    config["stall_ms"] = stall_ms
    config["script"] = [*config["script"], {"kind": "stall", "times": 1, "match": f"{order.workflow_id}/{operation}"}]
    await harness.faults.set(service, config)


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


async def _consistent(harness: Harness, order: Order, state: OrderState) -> OrderRecords:
    records = await harness.records.for_order(order.order_id)
    assert inconsistencies(state, order.total_amount, records) == []
    assert stock_inconsistencies(await harness.records.stock(), await harness.records.all_reservations()) == []
    return records


async def _cancel_once_recorded(harness: Harness, order: Order, operation: str) -> None:
    """Place the order, cancel it while `operation` is in flight (its effect committed, its answer held back)."""
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)

    async def recorded() -> bool:
        return EFFECT_RECORDED[operation](await harness.records.for_order(order.order_id))

    await _until(recorded)
    await placed.handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await placed.handle.result()
    progress = await placed.handle.query(OrderWorkflow.status)
    assert (progress.state, progress.reason) == (OrderState.COMPENSATED, "cancelled on request")


@pytest.mark.parametrize("operation", ["confirm_erp_order", "commit_inventory"])
async def test_lost_reply_on_confirmation_has_one_effect(harness, no_faults, operation):
    order = make_order()
    await _stall(harness, order, operation, stall_ms=6000)  # past the worker's 5 s HTTP timeout
    replays_before = (await harness.faults.stats(SERVICE_OF[operation]))["idempotent_replays"]
    result = await wait_for_result((await place_order(harness.client, order, task_queue=harness.task_queue)).handle)
    assert result.state == OrderState.COMPLETED
    await _consistent(harness, order, OrderState.COMPLETED)
    assert (await harness.faults.stats(SERVICE_OF[operation]))["idempotent_replays"] - replays_before >= 1


@pytest.mark.parametrize("operation", ["refund_payment", "cancel_erp_order"])
async def test_lost_reply_on_a_compensation_has_one_effect(harness, no_faults, operation):
    order = make_order(skus=("SKU-MUG", "SKU-OOS"))  # compensated at reserve_inventory
    await _stall(harness, order, operation, stall_ms=6000)
    result = await wait_for_result((await place_order(harness.client, order, task_queue=harness.task_queue)).handle)
    assert result.state == OrderState.COMPENSATED
    records = await _consistent(harness, order, OrderState.COMPENSATED)
    [charge] = records.charges
    assert charge["amount_refunded"] == order.total_amount  # refunded once, not twice
    # The retried fence answers what the first (unanswered) one undid: the order says what was undone, not "nothing".
    undone = {c.action.value: (c.undone, c.detail) for c in result.compensations}[operation]
    assert undone[0] is True and undone[1].startswith(("refunded ch_", "cancelled ERP order")), undone


async def test_lost_reply_on_release_after_a_cancel_puts_stock_back_once(harness, no_faults):
    order = make_order()
    await _stall(harness, order, "confirm_erp_order", stall_ms=1500)
    await _stall(harness, order, "release_inventory", stall_ms=6000)
    await _cancel_once_recorded(harness, order, "confirm_erp_order")
    records = await _consistent(harness, order, OrderState.COMPENSATED)
    assert [r["status"] for r in records.reservations] == ["released"]


@pytest.mark.parametrize("operation", list(EFFECT_RECORDED))
async def test_cancel_at_any_step_leaves_the_order_compensated(harness, no_faults, operation):
    order = make_order()
    await _stall(harness, order, operation, stall_ms=1500)  # long enough to cancel while it is in flight
    await _cancel_once_recorded(harness, order, operation)
    records = await _consistent(harness, order, OrderState.COMPENSATED)
    assert records.erp_order["status"] == "cancelled"


async def test_load_under_faults_closes_every_order_and_the_audit_is_clean(harness, no_faults):
    for service, config in {
        "payment": {"error_rate": 0.3},
        "inventory": {"error_rate": 0.2},
        "erp": {"rate_limit": 0.1, "retry_after_s": 0.2},
    }.items():
        await harness.faults.set(service, config)
    run_id = new_run_id()
    report = LoadReport(run_id, 16, 8, seed=7)
    await run_load(
        harness.client, generate_orders(16, 7, run_id), concurrency=8, report=report, task_queue=harness.task_queue
    )
    assert report.errors == []
    assert report.outcomes["completed"] + report.outcomes["compensated"] == 16
    audit = await run_audit(harness.client, harness.records, prefix=f"load-{run_id}")
    assert audit.orders == 16 and audit.problems == []


async def test_audit_names_orders_whose_records_disagree_and_records_temporal_never_saw(harness):
    prefix = f"audit-{new_run_id()}-"
    order = make_order(order_id=f"{prefix}refunded-behind-our-back")
    await wait_for_result((await place_order(harness.client, order, task_queue=harness.task_queue)).handle)
    payment = harness.config.endpoints()["payment"]
    headers = {"Authorization": f"Bearer {payment.token}"}
    http = harness.http
    charge_id = (await harness.records.for_order(order.order_id)).charges[0]["id"]
    assert (
        await http.post(f"{payment.base_url}/charges/{charge_id}/refunds", json={}, headers=headers)
    ).status_code == 201
    orphan = {"order_id": f"{prefix}never-placed", "amount": 500, "currency": "EUR", "payment_token": "tok_visa"}
    created = await http.post(f"{payment.base_url}/charges", json=orphan, headers=headers)
    assert created.status_code == 201
    orphan_id = created.json()["id"]

    audit = await run_audit(harness.client, harness.records, prefix=prefix)
    problems = {(p.order_id, p.message) for p in audit.problems}
    assert (order.order_id, "0 live charges, expected exactly 1") in problems
    assert (
        f"{prefix}never-placed",
        f"services hold live records of an order Temporal has no execution of: charge {orphan_id} not refunded",
    ) in problems
