"""The Order API client of `cadenza load --via api` and the bench, against a scripted API (httpx.MockTransport): an
order that outlasts the wait is followed to its end, passing troubles are ridden out, refusals are not retried."""

from __future__ import annotations

import json

import httpx
import pytest

from cadenza.processes import free_port
from starters import api_client
from starters.api_client import ApiUnreachable, OrderApi, OrderRefused, state_of
from tests.conftest import make_order


def _view(order_id: str, state: str, closed: bool) -> dict:
    return {"order_id": order_id, "state": state, "closed": closed, "execution_status": "RUNNING"}


def _api(answers: list[httpx.Response], seen: list[httpx.Request]) -> OrderApi:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return OrderApi(httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://api"), give_up_after=5)


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_client, "POLL_INTERVAL_S", 0.01)


async def test_an_order_still_running_after_the_wait_is_followed_until_it_closes():
    order = make_order()
    seen: list[httpx.Request] = []
    api = _api(
        [
            httpx.Response(202, json=_view(order.order_id, "running", False)),
            httpx.Response(200, json=_view(order.order_id, "compensating", False)),
            httpx.Response(200, json=_view(order.order_id, "compensated", True)),
        ],
        seen,
    )

    view = await api.outcome(order)

    assert state_of(view) == "compensated"
    assert [(r.method, r.url.path) for r in seen] == [
        ("POST", "/orders"),
        ("GET", f"/orders/{order.order_id}"),
        ("GET", f"/orders/{order.order_id}"),
    ]
    assert seen[0].headers["prefer"] == "wait=60" and json.loads(seen[0].content)["order_id"] == order.order_id


async def test_a_busy_api_is_asked_again_and_a_refused_order_is_not():
    order = make_order()
    seen: list[httpx.Request] = []
    api = _api(
        [
            httpx.Response(503, headers={"Retry-After": "0"}, json={"title": "Temporal is unavailable"}),
            httpx.Response(429, headers={"Retry-After": "0"}, json={"title": "Too many requests"}),
            httpx.Response(200, json=_view(order.order_id, "completed", True)),
            httpx.Response(409, json={"title": "Order id already used", "detail": "placed with a different body"}),
        ],
        seen,
    )

    assert state_of(await api.outcome(order)) == "completed"
    assert len(seen) == 3  # the same order sent again: placing is idempotent

    with pytest.raises(OrderRefused, match="409 Order id already used: placed with a different body"):
        await api.outcome(order)
    assert len(seen) == 4


async def test_an_api_that_does_not_answer_is_named_with_the_port_cadenza_up_serves_it_on(monkeypatch):
    """A newcomer who moved the stack (CADENZA_API_PORT) is told that port, not the default."""
    monkeypatch.setenv("CADENZA_API_PORT", "28555")
    async with OrderApi.open(f"http://127.0.0.1:{free_port()}", "cdz_key") as api:
        with pytest.raises(ApiUnreachable) as refused:
            await api.check()
    assert "on port 28555, CADENZA_API_PORT" in str(refused.value)
