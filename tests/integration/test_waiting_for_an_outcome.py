"""Waiting for an order's outcome (`until_closed_or_waiting`: the Order API's `Prefer: wait=N`, `cadenza order place
--wait`) asks the order's status seldom once the first asks found it running: each ask is a query the server and the
worker answer, and a 500-order burst waited on with an ask every 0.2 s cost more CPU than the orders' calls."""

from __future__ import annotations

import pytest

from clients.orders import place_order, until_closed_or_waiting, wait_for_result
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.handle_calls import calls_of
from workflows.models import OrderState

pytestmark = pytest.mark.integration


async def test_a_long_wait_asks_the_orders_status_at_doubling_intervals(harness: Harness):
    order = make_order()
    match = f"{order.workflow_id}/charge_payment"
    await harness.faults.script("payment", "error", times=1000, match=match)  # the charge is retried until unscripted
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    try:
        with calls_of("query") as asked:
            progress = await until_closed_or_waiting(harness.client, placed.handle, 5.0, poll_s=0.2)
        assert progress is None  # still running, waiting for no one: the wait ran out
        # After 0.2, 0.6, 1.4, 3.0 s and then every POLL_CAP_S (2 s): 5 asks in 5 s, where one every 0.2 s made 25.
        assert 2 <= asked.count(order.workflow_id) <= 6, asked
    finally:
        await harness.faults.unscript("payment", match)
    assert (await wait_for_result(placed.handle)).state == OrderState.COMPLETED


async def test_an_order_that_waits_for_a_person_is_found_by_the_first_asks(harness: Harness):
    order = make_order(unit_price=300_000)  # above what the risk check approves without a person
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    try:
        progress = await until_closed_or_waiting(harness.client, placed.handle, 30.0, poll_s=0.2)
        assert progress is not None and progress.state == OrderState.AWAITING_REVIEW
    finally:
        await placed.handle.cancel()
    assert (await wait_for_result(placed.handle)).state == OrderState.COMPENSATED
