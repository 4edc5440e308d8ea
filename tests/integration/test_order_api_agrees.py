"""Every door tells the same story at the same moment: what `POST /orders` answers after a wait is what a GET a moment
later shows; a compensated order is closed, Failed in Temporal's words and `compensated` in Cadenza's, with its whole
result; `wait=N` does not hold a request while the order waits for a person."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from temporalio.client import WorkflowExecutionStatus

from api.orders import _start_until_paid
from clients.orders import order_handle, start_options
from tests.conftest import make_order
from tests.integration.test_manual_review import _big_order
from tests.integration.test_order_api import Api, _until_closed, api  # noqa: F401 — the Order API as a fixture

pytestmark = pytest.mark.integration

# What a GET adds or may change on its own: the links are the same, the note says why something is missing.
_SAME = ("state", "closed", "execution_status", "completed_steps", "failed_step", "risk", "review", "compensations")


def _same(answer: dict, later: dict) -> dict:
    return {key: (answer[key], later[key]) for key in _SAME if answer[key] != later[key]}


async def _get(api: Api, order_id: str, headers: dict[str, str]) -> dict:
    response = await api.http.get(f"{api.url}/orders/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_declined_order_is_closed_failed_and_compensated_with_its_whole_result(api: Api, harness):
    headers = api.key()
    order = make_order(token="tok_chargeDeclined")

    answer = await api.place(order, headers, Prefer="wait=30")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["state"], body["closed"], body["execution_status"]) == ("compensated", True, "FAILED")
    assert (body["failed_step"], body["error_type"]) == ("charge_payment", "CardDeclined")
    assert body["completed_steps"] == ["create_erp_order"] and body["compensations"]
    assert _same(body, await _get(api, order.order_id, headers)) == {}
    description = await order_handle(harness.client, order.order_id).describe()
    assert description.status == WorkflowExecutionStatus.FAILED


async def test_the_payment_answer_of_an_order_awaiting_review_is_what_a_get_shows(api: Api):
    headers = api.key()
    order = _big_order()

    answer = await api.place(order, headers, Prefer="wait=payment")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["state"] == "awaiting_review" and body["payment"]["outcome"] == "pending_review"
    assert body["completed_steps"] == ["create_erp_order"]
    assert body["risk"] is not None and body["review"] is not None
    assert _same(body, await _get(api, order.order_id, headers)) == {}


async def test_wait_seconds_answers_as_soon_as_the_order_waits_for_a_person(api: Api):
    headers = api.key()
    order = _big_order()

    started = time.monotonic()
    answer = await api.place(order, headers, Prefer="wait=30")
    took = time.monotonic() - started

    assert took < 15, f"wait=30 held an order awaiting review for {took:.1f} s"
    body = answer.json()
    assert (body["state"], body["closed"]) == ("awaiting_review", False), body
    assert body["review"] is not None and body["risk"] is not None


async def test_state_and_closed_agree_in_every_get_after_a_payment_answer(api: Api):
    headers = api.key()
    order = make_order()

    answer = await api.place(order, headers, Prefer="wait=payment")
    assert answer.status_code == 200, answer.text
    seen = [answer.json()]
    async with asyncio.timeout(60):
        while not seen[-1]["closed"]:
            seen.append(await _get(api, order.order_id, headers))
    ended = [(b["state"], b["closed"]) for b in seen if b["state"] in ("completed", "compensated")]
    assert ended and all(closed for _, closed in ended), ended
    assert seen[-1]["execution_status"] == "COMPLETED"


async def test_a_payment_wait_on_a_finished_id_leaves_no_unretrieved_failure(api: Api, harness):
    # What two checkouts of one new order id racing each other meet (neither finds the order, and the first has
    # closed when the second's update-with-start arrives): the start is refused, and the SDK also sets that refusal on
    # the start operation's handle future. Left there, asyncio logs "Future exception was never retrieved".
    order = make_order()
    await api.place(order, api.key(), Prefer="wait=30")
    loop = asyncio.get_running_loop()
    unretrieved: list[str] = []
    before = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unretrieved.append(repr(context.get("exception") or context)))
    try:
        for _ in range(3):
            options = start_options(order, harness.task_queue)
            handle, decision = await _start_until_paid(harness.client, order, options)
            assert (handle.id, decision) == (order.workflow_id, None)
        gc.collect()  # asyncio reports a future's unretrieved exception when the future is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(before)
    assert unretrieved == []
