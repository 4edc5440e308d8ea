"""Manual review against the real stack: a 12,000.00 order waits in `awaiting_review` with nothing charged; a reviewer
decides through the Order API (scope `orders:review`) or the CLI; a deadline set in the environment expires. Every
outcome is checked on the services' own records."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from activities.audit import run_audit
from clients.orders import order_handle, place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.test_cli import _cadenza, _cadenza_async
from tests.integration.test_order_api import Api, api  # noqa: F401 — the Order API on a free port, as a fixture
from tests.integration.test_order_fulfilment import _assert_consistent
from workflows.models import Order, OrderState, Step
from workflows.order import REVIEW_DEADLINE_PASSED, REVIEW_EXPIRED, REVIEW_REJECTED, OrderWorkflow
from workflows.policies import REVIEW_DEADLINE_ENV

pytestmark = pytest.mark.integration

# 2 SKUs × 2 units × 3,000.00 = 12,000.00 EUR: above the 10,000.00 the risk rules let through without a person.
TWELVE_THOUSAND = 300_000


def _big_order() -> Order:
    order = make_order(unit_price=TWELVE_THOUSAND)
    assert order.total_amount == 1_200_000
    return order


async def _state_of(api: Api, order_id: str, headers: dict[str, str]) -> dict:
    response = await api.http.get(f"{api.url}/orders/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _until_awaiting_review(api: Api, order_id: str, headers: dict[str, str]) -> dict:
    async with asyncio.timeout(30):
        while (body := await _state_of(api, order_id, headers))["state"] != OrderState.AWAITING_REVIEW:
            assert body["state"] in (None, OrderState.RUNNING), body
            await asyncio.sleep(0.1)
    return body


async def _placed_and_waiting(api: Api, harness: Harness) -> tuple[Order, dict]:
    order, clerk = _big_order(), api.key("orders:write", "orders:read")
    placed = await api.place(order, clerk)
    assert placed.status_code == 202, placed.text
    waiting = await _until_awaiting_review(api, order.order_id, clerk)
    records = await harness.records.for_order(order.order_id)
    assert records.charges == []  # nothing charged while a person has not decided
    assert records.erp_order["status"] == "pending"
    return order, waiting


async def _decide(api: Api, order_id: str, headers: dict[str, str], **body: str) -> httpx.Response:
    return await api.http.post(f"{api.url}/orders/{order_id}/review", json=body, headers=headers)


async def test_a_12000_order_waits_for_review_and_approval_charges_it_exactly_once(api: Api, harness: Harness):
    order, waiting = await _placed_and_waiting(api, harness)
    assert waiting["current_step"] == Step.CHARGE_PAYMENT and waiting["payment"] is None
    assert "above the 10000.00 EUR limit" in waiting["review"]["reasons"][0] and waiting["review"]["deadline"]

    audit = await run_audit(harness.client, harness.records, prefix=order.order_id)
    assert audit.clean and audit.outcomes == {"awaiting_review": 1}  # open, rightly, and nothing charged

    scraped = (await api.http.get(f"{api.url}/metrics")).text
    [size] = [line.split()[1] for line in scraped.splitlines() if line.startswith("cadenza_review_queue_size ")]
    assert float(size) >= 1  # at least this order, counted from visibility

    queue = await api.http.get(f"{api.url}/orders", params={"state": "awaiting_review"}, headers=api.key("orders:read"))
    assert order.order_id in [o["order_id"] for o in queue.json()["orders"]]
    # Deciding needs the review scope: a key that may do everything else is refused, and nothing changes.
    refused = await _decide(
        api, order.order_id, api.key("orders:write", "orders:read", "orders:operate"), decision="approve"
    )
    assert refused.status_code == 403

    approved = await _decide(api, order.order_id, api.key("orders:review"), decision="approve", reason="known customer")
    assert approved.status_code == 200, approved.text
    review = approved.json()["review"]
    assert review["outcome"] == "approved" and review["reason"] == "known customer"
    assert review["reviewer"].startswith("api-key:test-")

    result = await wait_for_result(order_handle(harness.client, order.order_id))
    assert result.state == OrderState.COMPLETED
    records = await _assert_consistent(harness, order, OrderState.COMPLETED)
    [charge] = records.charges
    assert (charge["amount"], charge["status"], charge["refunded"]) == (order.total_amount, "succeeded", False)


async def test_rejecting_leaves_nothing_live_at_any_service_and_keeps_the_reason(api: Api, harness: Harness):
    order, _ = await _placed_and_waiting(api, harness)
    rejected = await _decide(
        api, order.order_id, api.key("orders:review"), decision="reject", reason="card reported stolen"
    )
    assert rejected.status_code == 200, rejected.text

    result = await wait_for_result(order_handle(harness.client, order.order_id))
    assert (result.state, result.error_type) == (OrderState.COMPENSATED, REVIEW_REJECTED)
    assert result.reason.endswith(": card reported stolen") and result.review.outcome == "rejected"
    records = await _assert_consistent(harness, order, OrderState.COMPENSATED)
    assert records.charges == [] and records.reservations == []
    assert records.erp_order["status"] == "cancelled"


async def test_a_decision_is_refused_unless_the_order_awaits_review(api: Api, harness: Harness):
    order, _ = await _placed_and_waiting(api, harness)
    reviewer = api.key("orders:review")
    assert (await _decide(api, order.order_id, reviewer, decision="reject")).status_code == 200
    second = await _decide(api, order.order_id, reviewer, decision="approve")
    assert second.status_code == 409 and "nothing was decided" in second.json()["detail"]
    await wait_for_result(order_handle(harness.client, order.order_id))

    small = make_order()
    await wait_for_result((await place_order(harness.client, small, task_queue=harness.task_queue)).handle)
    closed = await _decide(api, small.order_id, reviewer, decision="approve")
    assert closed.status_code == 409 and closed.json()["state"] == OrderState.COMPLETED
    assert (await _decide(api, "no-such-order", reviewer, decision="approve")).status_code == 404
    malformed = await _decide(api, small.order_id, reviewer, decision="maybe")
    assert malformed.status_code == 422
    records = await harness.records.for_order(order.order_id)
    assert records.charges == []  # the refused approval charged nothing


async def test_a_short_deadline_from_the_environment_expires_and_compensates(harness: Harness, monkeypatch):
    monkeypatch.setenv(REVIEW_DEADLINE_ENV, "2s")  # read when the order is placed, and fixed for it
    order = _big_order()
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    result = await wait_for_result(placed.handle)
    assert (result.state, result.error_type, result.reason) == (
        OrderState.COMPENSATED,
        REVIEW_EXPIRED,
        REVIEW_DEADLINE_PASSED,
    )
    assert result.review.outcome == "expired" and result.review.reviewer is None
    records = await _assert_consistent(harness, order, OrderState.COMPENSATED)
    assert records.charges == [] and records.erp_order["status"] == "cancelled"


async def test_cli_review_approves_as_the_user_and_refuses_a_second_decision(harness: Harness):
    order = _big_order()
    handle = (await place_order(harness.client, order, task_queue=harness.task_queue)).handle
    async with asyncio.timeout(30):
        while (await handle.query(OrderWorkflow.status)).state != OrderState.AWAITING_REVIEW:
            await asyncio.sleep(0.1)
    env = harness.config.client_env()
    approved = await _cadenza_async(["order", "review", order.order_id, "--approve", "--reason", "vip"], env)
    assert approved.returncode == 0, approved.stderr
    assert "approved" in approved.stdout
    again = await _cadenza_async(["order", "review", order.order_id, "--reject"], env)
    assert again.returncode == 1 and "nothing was decided" in again.stderr + again.stdout
    neither = await _cadenza_async(["order", "review", order.order_id], env)
    assert neither.returncode != 0 and "--approve or --reject" in neither.stderr + neither.stdout

    result = await wait_for_result(handle)
    assert result.state == OrderState.COMPLETED and result.review.reviewer.startswith("cli:")
    [charge] = (await _assert_consistent(harness, order, OrderState.COMPLETED)).charges
    assert charge["amount"] == order.total_amount


async def test_cli_place_wait_answers_once_the_order_waits_for_review(harness: Harness, tmp_path):
    """`order place --wait` answers when the order waits for a person, as the Order API's `Prefer: wait` does; it once
    waited silently until the review deadline (24 h)."""
    order = _big_order()
    path = tmp_path / "order.json"
    path.write_text(order.model_dump_json())
    env = harness.config.client_env()
    # In a thread, the harness's worker serving on this loop meanwhile; well under the deadline, or it hung.
    placed = await asyncio.to_thread(_cadenza, ["order", "place", str(path), "--wait"], env, 60)
    assert placed.returncode == 0, placed.stderr
    assert json.loads(placed.stdout)["state"] == OrderState.AWAITING_REVIEW
    assert f"cadenza order review {order.order_id} --approve" in placed.stderr
    assert (await harness.records.for_order(order.order_id)).charges == []

    rejected = await _cadenza_async(["order", "review", order.order_id, "--reject", "--reason", "test"], env)
    assert rejected.returncode == 0, rejected.stderr
    result = await wait_for_result(order_handle(harness.client, order.order_id))
    assert result.state == OrderState.COMPENSATED
