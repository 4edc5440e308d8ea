"""The Order API's trust boundaries against the real stack (issue 21): a key bound to one customer can neither touch,
see, probe nor squat another customer's order; orders filed under today's ids stay reachable; what a client sends
never reaches a 500; page tokens, held requests and revoked keys are bounded.

Each test reproduces a finding of the assessment: on the code before the fix it fails (the flood added events to
the other customer's history, the oracle answered 409 for a taken id and 404 for an unknown one, the squatted id was
refused, `wait=nan` was a 500, a forged token took seconds, a revoked key's stream went on)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from api.ownership import scoped_order_id
from clients.orders import place_order
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.test_order_api import Api, _problem, _until_closed, api  # noqa: F401 — fixture
from workflows.models import Order

pytestmark = pytest.mark.integration

TWELVE_THOUSAND = 300_000  # per unit: 2 SKUs × 2 units = 12,000.00, above what the risk rules let through unreviewed
FLOOD = 20


def _for(order: Order, customer: str) -> Order:
    return order.model_copy(update={"customer_id": customer})


def _customer() -> str:
    return f"c-{uuid.uuid4().hex[:8]}"


def _workflow_id(view: dict) -> str:
    """The workflow an answer's order is filed under (its Web UI link ends with it)."""
    return view["links"]["web_ui"].rsplit("/workflows/", 1)[1]


async def _history_events(harness: Harness, workflow_id: str) -> int:
    return len((await harness.client.get_workflow_handle(workflow_id).fetch_history()).events)


@dataclass
class TheirOrder:
    """Customer B's order, waiting for a person's review (so it stays open for the whole module)."""

    order: Order
    headers: dict[str, str]
    workflow_id: str

    @property
    def url(self) -> str:
        return f"/orders/{self.order.order_id}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def theirs(api: Api) -> AsyncIterator[TheirOrder]:
    headers = api.key(customer=_customer())
    order = _for(make_order(unit_price=TWELVE_THOUSAND), headers_customer(api, headers))
    placed = await api.place(order, headers, Prefer="wait=payment")
    assert placed.status_code == 200 and placed.json()["payment"]["outcome"] == "pending_review", placed.text
    yield TheirOrder(order, headers, _workflow_id(placed.json()))
    await api.http.post(f"{api.url}{placed.json()['links']['self'].split('?')[0]}/cancel", headers=headers)


def headers_customer(api: Api, headers: dict[str, str]) -> str:
    key = headers["Authorization"].removeprefix("Bearer ")
    entry = api.keys.authenticate(key)
    assert entry is not None and entry.customer_id is not None
    return entry.customer_id


def _routes(order_id: str) -> list[tuple[str, str, dict | None]]:
    """Every route that names an order, with a body it takes."""
    base = f"/orders/{order_id}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/events", None),
        ("POST", f"{base}/cancel", None),
        ("POST", f"{base}/retry-compensation", None),
        ("POST", f"{base}/review", {"decision": "approve"}),
    ]


async def _call(api: Api, method: str, path: str, body: dict | None, headers: dict[str, str]) -> httpx.Response:
    return await api.http.request(method, f"{api.url}{path}", json=body, headers=headers)


async def test_a_bound_key_adds_not_one_event_to_another_customers_order(
    api: Api, harness: Harness, theirs: TheirOrder
):
    before = await _history_events(harness, theirs.workflow_id)
    mallory = api.key(customer=_customer())
    # B's order id with an order of Mallory's own: before the fix, update-with-start attached to B's execution first
    # and checked the owner after, adding the update's events to B's history on every request.
    hers = _for(make_order(order_id=theirs.order.order_id), headers_customer(api, mallory))

    for method, path, body in _routes(theirs.order.order_id):
        assert (await _call(api, method, path, body, mallory)).status_code == 404
    for _ in range(FLOOD):
        await api.place(hers, mallory, Prefer="wait=payment")

    assert await _history_events(harness, theirs.workflow_id) == before
    own = await api.http.get(f"{api.url}{theirs.url}", headers=theirs.headers)
    assert own.json()["state"] == "awaiting_review"  # still B's, still waiting for B's reviewer


async def test_another_customers_order_answers_exactly_as_an_unknown_one(api: Api, theirs: TheirOrder):
    probe = api.key(customer=_customer())
    unknown = f"nope-{uuid.uuid4().hex[:6]}"

    for (method, path, body), (_, unknown_path, _) in zip(
        _routes(theirs.order.order_id), _routes(unknown), strict=True
    ):
        taken = await _call(api, method, path, body, probe)
        free = await _call(api, method, unknown_path, body, probe)
        assert taken.status_code == free.status_code == 404, (path, taken.text)
        assert _without(taken.json(), theirs.order.order_id) == _without(free.json(), unknown), path

    # Placing an order under B's id is placing one's own, as under an id nobody has: no 409 "already placed".
    customer = headers_customer(api, probe)
    taken = await api.place(_for(make_order(order_id=theirs.order.order_id), customer), probe)
    free = await api.place(_for(make_order(order_id=unknown), customer), probe)
    assert taken.status_code == free.status_code == 202, taken.text
    assert _without(taken.json(), theirs.order.order_id) == _without(free.json(), unknown)

    taken_s = await _median_seconds(api, f"{api.url}{theirs.url}", probe)
    free_s = await _median_seconds(api, f"{api.url}/orders/{unknown}-x", probe)
    assert taken_s < 2 * free_s + 0.05, (taken_s, free_s)  # the same lookups either way


def _without(body: dict, order_id: str) -> dict:
    """An answer with the order id it names (and what is derived from it) taken out."""
    text = repr({k: v for k, v in body.items() if k not in ("instance", "links")})
    return {"text": text.replace(order_id, "<id>"), "links": sorted((body.get("links") or {}).keys())}


async def _median_seconds(api: Api, url: str, headers: dict[str, str], rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await api.http.get(url, headers=headers)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def test_an_order_id_cannot_be_squatted_by_another_customer(api: Api, harness: Harness):
    order_id = f"ord-{uuid.uuid4().hex[:8]}"
    first, second = api.key(customer=_customer()), api.key(customer=_customer())
    squatted = await api.place(
        _for(make_order(order_id=order_id), headers_customer(api, first)), first, Prefer="wait=30"
    )
    assert squatted.status_code == 200 and squatted.json()["state"] == "completed"

    placed = await api.place(
        _for(make_order(order_id=order_id, token="tok_mastercard"), headers_customer(api, second)),
        second,
        Prefer="wait=30",
    )

    assert placed.status_code == 200 and placed.json()["state"] == "completed", placed.text
    assert _workflow_id(placed.json()) != _workflow_id(squatted.json())
    for view in (squatted.json(), placed.json()):  # each charged once, under an id of its own at the services too
        records = await harness.records.for_order(_workflow_id(view).removeprefix("order-"))
        assert len(records.charges) == 1 and records.erp_order["status"] == "confirmed"


async def test_orders_filed_under_todays_ids_stay_reachable_for_their_customer_only(api: Api, harness: Harness):
    owner, stranger = api.key(customer=_customer()), api.key(customer=_customer())
    order = _for(make_order(), headers_customer(api, owner))
    # As the CLI (and the API, before customer-scoped ids) files an order: under its own id.
    placed = await place_order(harness.client, order, task_queue=harness.task_queue, eager_start=False)
    await placed.handle.result()
    url = f"{api.url}/orders/{order.order_id}"

    seen = await api.http.get(url, headers=owner)
    again = await api.place(order, owner)

    assert seen.status_code == 200 and _workflow_id(seen.json()) == order.workflow_id
    assert again.status_code == 200 and _workflow_id(again.json()) == order.workflow_id  # that order, not a new one
    assert (await api.http.get(url, headers=stranger)).status_code == 404
    theirs = await api.place(_for(order, headers_customer(api, stranger)), stranger)
    assert theirs.status_code == 202 and _workflow_id(theirs.json()) != order.workflow_id
    await _until_closed(api, order.order_id, stranger)


@pytest.mark.parametrize("prefer", ["wait=nan", "wait=inf", "wait=-1", "wait=1e3", "wait", "wait=soon"])
async def test_a_wait_the_api_cannot_honour_is_a_422_and_starts_nothing(api: Api, harness: Harness, prefer: str):
    order = make_order()

    refused = await api.place(order, api.key(), Prefer=prefer)

    assert _problem(refused, 422)["errors"][0]["field"] == "Prefer"
    assert (await harness.records.for_order(order.order_id)).erp_order is None


async def test_a_forged_page_token_is_refused_at_once(api: Api):
    headers = api.key("orders:read")
    # The shape tokens had before they were signed: an unkeyed checksum anyone can compute, then bytes of one's own.
    junk = b"\x0a\x10" + uuid.uuid4().bytes
    forged = base64.urlsafe_b64encode(hashlib.sha256(junk).digest()[:8] + junk).decode().rstrip("=")

    started = time.perf_counter()
    refused = await api.http.get(f"{api.url}/orders", params={"page_token": forged}, headers=headers)

    assert time.perf_counter() - started < 1.0
    assert _problem(refused, 404)["errors"][0]["field"] == "page_token"


async def test_a_page_token_continues_only_the_listing_that_gave_it(api: Api):
    headers = api.key("orders:read", "orders:write")
    for _ in range(3):
        await api.place(make_order(), headers, Prefer="wait=30")
    first = (
        await api.http.get(f"{api.url}/orders", params={"page_size": 1, "state": "completed"}, headers=headers)
    ).json()
    token = first["next_page_token"]

    other_listing = await api.http.get(
        f"{api.url}/orders", params={"page_size": 1, "page_token": token}, headers=headers
    )
    another_customer = await api.http.get(
        f"{api.url}/orders",
        params={"page_size": 1, "state": "completed", "page_token": token},
        headers=api.key("orders:read", customer=_customer()),
    )

    assert _problem(other_listing, 404) and _problem(another_customer, 404)


async def test_revoking_a_key_ends_its_open_event_streams_within_seconds(api: Api, theirs: TheirOrder):
    key, entry = api.keys.create(name="soon-revoked", scopes=["orders:read"], customer_id=theirs.order.customer_id)
    headers = {"Authorization": f"Bearer {key}"}
    async with api.http.stream("GET", f"{api.url}{theirs.url}/events", headers=headers) as stream:
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        await anext(lines)  # streaming: the order waits for its review, so the stream stays open
        api.keys.revoke(entry.key_id)
        revoked = time.perf_counter()
        async with asyncio.timeout(10):
            async for _ in lines:
                pass
    assert time.perf_counter() - revoked < 3.0
    assert _problem(await api.http.get(f"{api.url}{theirs.url}/events", headers=headers), 401)


async def test_a_key_holds_at_most_its_cap_of_event_streams(api: Api, theirs: TheirOrder):
    from api.holds import HoldLimit, Holds

    saved, api.app.state.holds = api.app.state.holds, Holds(streams=HoldLimit(2), waits=HoldLimit(100))
    url = f"{api.url}{theirs.url}/events"
    try:
        async with (
            api.http.stream("GET", url, headers=theirs.headers) as one,
            api.http.stream("GET", url, headers=theirs.headers) as two,
        ):
            assert one.status_code == two.status_code == 200
            third = await api.http.get(url, headers=theirs.headers)
            assert _problem(third, 429) and third.headers["retry-after"]
        async with asyncio.timeout(5):  # the two ended: room again, once the API has seen them go
            while (again := await _first_status(api, url, theirs.headers)) != 200:
                assert again == 429
                await asyncio.sleep(0.1)
    finally:
        api.app.state.holds = saved


async def _first_status(api: Api, url: str, headers: dict[str, str]) -> int:
    async with api.http.stream("GET", url, headers=headers) as response:
        return response.status_code


async def test_over_its_cap_of_waits_a_key_is_answered_at_once(api: Api, harness: Harness, theirs: TheirOrder):
    from api.holds import HoldLimit, Holds

    saved, api.app.state.holds = api.app.state.holds, Holds(streams=HoldLimit(10), waits=HoldLimit(1))
    # An order whose confirmation is held for 5 s cannot close within a 3 s wait (one awaiting review would not do:
    # a wait answers as soon as an order waits for a person).
    slow = _for(make_order(), theirs.order.customer_id)
    filed = scoped_order_id(slow.customer_id, slow.order_id)  # placed with a key bound to its customer
    stall = {"kind": "stall", "times": 1, "match": f"{filed}/confirm_erp_order"}
    await harness.faults.set("erp", {"stall_ms": 5000, "script": [stall]})
    try:
        # One wait held ...
        holding = asyncio.create_task(api.place(slow, theirs.headers, Prefer="wait=3"))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        at_once = await api.place(_for(make_order(), theirs.order.customer_id), theirs.headers, Prefer="wait=30")
        # ... so the next is answered without waiting, and says so by not confirming the preference.
        assert at_once.status_code == 202 and "preference-applied" not in at_once.headers
        assert time.perf_counter() - started < 2.0
        assert (await holding).headers["preference-applied"] == "wait=3"
    finally:
        api.app.state.holds = saved
        await harness.faults.set("erp", {})


async def test_an_order_whose_history_is_near_temporals_limit_takes_no_more_updates(
    api: Api, harness: Harness, theirs: TheirOrder
):
    from api.update_guard import ORDER_HISTORY_FULL, UpdateGuard

    before = await _history_events(harness, theirs.workflow_id)
    saved, api.app.state.update_guard = api.app.state.update_guard, UpdateGuard(max_history_events=before)
    try:
        refused = await api.http.post(
            f"{api.url}{theirs.url}/review", json={"decision": "approve"}, headers=theirs.headers
        )
    finally:
        api.app.state.update_guard = saved

    assert _problem(refused, 409)["type"] == ORDER_HISTORY_FULL
    assert "nothing was changed" in refused.json()["detail"]
    assert await _history_events(harness, theirs.workflow_id) == before


async def test_requests_without_a_usable_key_are_limited_per_address(api: Api):
    from api.ratelimit import RateLimit, RateLimiter

    saved = api.app.state.anonymous_rate_limiter
    api.app.state.anonymous_rate_limiter = RateLimiter(RateLimit(rate=0.1, burst=3))
    try:
        answers = [
            (await api.http.get(f"{api.url}/orders", headers=h)).status_code
            for h in [{}] * 2 + [{"Authorization": "Bearer cdz_not-a-key-at-all-000"}] * 2
        ]
        with_a_key = await api.http.get(f"{api.url}/orders", headers=api.key("orders:read"))
    finally:
        api.app.state.anonymous_rate_limiter = saved

    assert answers == [401, 401, 401, 429]
    assert with_a_key.status_code == 200  # a valid key is never charged to its address


async def test_a_key_that_may_not_read_learns_no_state_from_cancel(api: Api):
    order = make_order()
    await api.place(order, api.key(), Prefer="wait=30")

    refused = await api.http.post(f"{api.url}/orders/{order.order_id}/cancel", headers=api.key("orders:write"))

    assert "already ended" in _problem(refused, 409)["detail"] and "completed" not in refused.text
