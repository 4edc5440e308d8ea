"""The query and update storm (starters/adversary/storm.py): large orders hammered by queries, event streams and
updates they refuse during their first workflow task, the worker restarted in the middle — every history replays
with the code that wrote it, every order ends (approved, risk-checked or expired), and the audit is clean."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta

import pytest

from starters.adversary.storm import Storm, StormPlan
from workers.worker import order_worker

pytestmark = pytest.mark.integration


async def test_large_orders_hammered_during_their_first_task_all_replay_and_end_true(harness):
    task_queue = f"storm-{uuid.uuid4().hex}"
    workers = contextlib.AsyncExitStack()
    await workers.enter_async_context(
        order_worker(harness.client, task_queue=task_queue, endpoints=harness.config.endpoints())
    )

    async def restart_worker() -> None:
        await workers.aclose()
        await workers.enter_async_context(
            order_worker(harness.client, task_queue=task_queue, endpoints=harness.config.endpoints())
        )

    plan = StormPlan(orders=30, poll_for=timedelta(seconds=2), review_deadline=timedelta(seconds=8))
    try:
        report = await Storm(harness.client, harness.records, task_queue, restart_worker).run(plan)
    finally:
        await workers.aclose()

    # The storm happened: queries flowed, and open orders refused updates. How many updates an order refuses rather
    # than closing first depends on the machine's load (a loaded CI run saw exactly half), so no share is asserted.
    assert report.queries > plan.orders and report.updates_refused > 0
    assert report.not_replayed == {}
    assert report.problems == []
    # Half risk-checked and completed; of the half referred to review, some approved and completed, the rest expired.
    assert report.ended.get("completed", 0) > plan.orders // 2 and report.ended.get("compensated", 0) > 0
    assert sum(report.ended.values()) == plan.orders
