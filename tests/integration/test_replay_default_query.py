"""`cadenza replay`'s default query on a real server: every open order whatever its age, closed ones only if recent.

The orders waiting for days (in `needs_attention`, for an operator) are the ones a new worker will replay; a query
that drops them by age would let a change that cannot replay them pass."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from clients.orders import place_order, wait_for_result
from starters.replay import default_query, parse_since
from tests.conftest import make_order
from tests.integration.conftest import Harness
from workflows.models import OrderState

pytestmark = pytest.mark.integration


async def test_the_default_query_keeps_an_open_order_older_than_since_and_drops_an_old_closed_one(harness: Harness):
    closed = make_order()
    assert (
        await wait_for_result((await place_order(harness.client, closed, task_queue=harness.task_queue)).handle)
    ).state == (OrderState.COMPLETED)
    # No worker polls this queue: the order stays open, as one waiting for an operator does.
    open_order = make_order()
    waiting = await place_order(harness.client, open_order, task_queue=f"nobody-{uuid.uuid4().hex}")
    try:
        # A month from now, both orders are older than --since 7d.
        query = default_query(parse_since("7d"), now=datetime.now(UTC) + timedelta(days=30))
        ours = f'WorkflowId IN ("{closed.workflow_id}", "{open_order.workflow_id}")'
        for _ in range(100):  # visibility lags by up to a second: until the open order is listed in both
            recent = [e.id async for e in harness.client.list_workflows(f"{default_query()} AND {ours}")]
            found = [e.id async for e in harness.client.list_workflows(f"{query} AND {ours}")]
            if len(recent) == 2 and found:
                break
            await asyncio.sleep(0.1)
        assert sorted(recent) == sorted([closed.workflow_id, open_order.workflow_id])  # today: both started within 7d
        assert found == [open_order.workflow_id]
    finally:
        await waiting.handle.terminate("test over")
