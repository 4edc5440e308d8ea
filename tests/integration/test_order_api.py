"""The Order API over real HTTP (uvicorn on a free port) against the real stack: every endpoint, the auth matrix,
one execution per order, the event stream, and 503 while Temporal cannot be reached. Outcomes are checked on the
services' own records."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import uvicorn

from activities.consistency import inconsistencies
from api.app import create_app
from api.page_tokens import PageTokens
from api.ratelimit import RateLimiter
from cadenza.connection import connect
from cadenza.processes import free_port
from clients.api_keys import KeyStoreSettings, load_key_store
from tests.conftest import make_order
from tests.contract_checks import api_schema, assert_contract_kept, execute, following_a_rule_in_words
from tests.integration.conftest import Harness
from tests.integration.handle_calls import calls_of
from workflows.models import MAX_AMOUNT, Order, OrderState

pytestmark = pytest.mark.integration

ALL_SCOPES = ["orders:write", "orders:read", "orders:operate", "orders:review"]


@dataclass
class Api:
    url: str
    keys: object
    http: httpx.AsyncClient
    app: object

    def key(self, *scopes: str, customer: str | None = None) -> dict[str, str]:
        key, _ = self.keys.create(
            name=f"test-{uuid.uuid4().hex[:6]}", scopes=scopes or ALL_SCOPES, customer_id=customer
        )
        return {"Authorization": f"Bearer {key}"}

    async def place(self, order: Order, headers: dict[str, str], **extra: str) -> httpx.Response:
        return await self.http.post(f"{self.url}/orders", json=order.model_dump(mode="json"), headers=headers | extra)


async def _serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            await asyncio.sleep(0.05)
    return server, task


def _app(harness: Harness, state_dir: Path, address: Callable[[], str], *, sagas=None):
    # No sagas unless asked: this file's document is the Order API's (tests/integration/test_saga_api.py has theirs).
    app = create_app(
        sagas=sagas or {},
        connect_temporal=lambda: connect(service_name="cadenza-api-test", address=address()),
        task_queue=harness.task_queue,
        inventory=harness.config.endpoints()["inventory"],
        page_tokens=PageTokens(f"test-page-tokens-{uuid.uuid4().hex}"),
    )
    app.state.api_keys = load_key_store(KeyStoreSettings(keys_file=None, keys_json=None, state_dir=state_dir))
    return app


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api(harness: Harness, tmp_path_factory) -> AsyncIterator[Api]:
    app = _app(harness, tmp_path_factory.mktemp("api"), lambda: harness.config.temporal_address)
    async with served(app, timeout=30) as api:
        yield api


@asynccontextmanager
async def served(app, *, timeout: float) -> AsyncIterator[Api]:
    """`app` under uvicorn on a free port, and a client for it, until the block ends."""
    port = free_port()
    server, task = await _serve(app, port)
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            yield Api(f"http://127.0.0.1:{port}", app.state.api_keys, http, app)
    finally:
        server.should_exit = True
        await task


async def _until_closed(api: Api, order_id: str, headers: dict[str, str]) -> dict:
    async with asyncio.timeout(60):
        while not (body := (await api.http.get(f"{api.url}/orders/{order_id}", headers=headers)).json())["closed"]:
            await asyncio.sleep(0.1)
    return body


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"]
    return body


async def test_an_order_placed_over_http_is_fulfilled_and_readable(api: Api, harness: Harness):
    headers = api.key()
    order = make_order()

    placed = await api.place(order, headers)

    assert placed.status_code == 202 and placed.headers["location"] == f"/orders/{order.order_id}"
    body = placed.json()
    assert (body["state"], body["closed"]) == ("running", False)
    assert body["links"] == {
        "self": f"/orders/{order.order_id}",
        "events": f"/orders/{order.order_id}/events",
        "web_ui": body["links"]["web_ui"],
    } and body["links"]["web_ui"].endswith(f"/workflows/order-{order.order_id}")
    closed = await _until_closed(api, order.order_id, headers)
    assert closed["state"] == "completed" and closed["payment"]["outcome"] == "charged"
    records = await harness.records.for_order(order.order_id)
    assert inconsistencies(OrderState.COMPLETED, order.total_amount, records) == []
    assert placed.headers["x-request-id"]


async def test_placing_the_same_order_twice_starts_one_execution_and_another_body_is_a_409(api: Api, harness: Harness):
    headers = api.key()
    order = make_order()
    first = await api.place(order, headers, Prefer="wait=30")
    again = await api.place(order, headers)

    assert first.status_code == 200 and first.json()["state"] == "completed"
    assert again.status_code == 200 and again.json()["state"] == "completed"  # the existing, closed order
    runs = [e async for e in harness.client.list_workflows(f'WorkflowId="{order.workflow_id}"')]
    assert len(runs) == 1
    other = order.model_copy(update={"payment_token": "tok_mastercard"})
    conflict = _problem(await api.place(other, headers), 409)
    assert "different body" in conflict["detail"]
    assert len((await harness.records.for_order(order.order_id)).charges) == 1


async def test_who_may_do_what(api: Api):
    order = make_order()  # customer c-17
    writer = api.key()
    await api.place(order, writer, Prefer="wait=30")
    url = f"{api.url}/orders/{order.order_id}"

    assert _problem(await api.http.get(url), 401)["title"]
    assert _problem(await api.http.get(url, headers={"Authorization": "Bearer cdz_not-a-key"}), 401)
    assert "orders:read" in _problem(await api.http.get(url, headers=api.key("orders:write")), 403)["detail"]
    other_customer = api.key("orders:read", "orders:write", customer="c-99")
    assert _problem(await api.http.get(url, headers=other_customer), 404)
    listed = (await api.http.get(f"{api.url}/orders", headers=other_customer)).json()["orders"]
    assert all(o["customer_id"] == "c-99" for o in listed)
    assert _problem(await api.place(make_order(), other_customer), 403)  # may place for c-99 only
    own = api.key("orders:read", customer="c-17")
    assert (await api.http.get(url, headers=own)).status_code == 200


async def test_a_declined_card_is_answered_at_the_payment_decision_and_compensated_without_a_refund(api: Api, harness):
    headers = api.key()
    order = make_order(token="tok_chargeDeclined")

    decided = await api.place(order, headers, Prefer="wait=payment")

    assert decided.status_code == 200, decided.text
    assert decided.json()["payment"]["outcome"] == "declined"
    assert decided.json()["payment"]["error_type"] == "CardDeclined"
    closed = await _until_closed(api, order.order_id, headers)
    assert closed["state"] == "compensated"
    refund = next(c for c in closed["compensations"] if c["action"] == "refund_payment")
    assert refund["undone"] is False  # the charge never happened: nothing refunded
    assert (await harness.records.for_order(order.order_id)).charges[0]["amount_refunded"] == 0


async def test_the_payment_decision_answers_before_fulfilment_ends(api: Api, harness):
    headers = api.key()
    order = make_order()
    await harness.faults.script("erp", "stall", times=1, match=f"{order.workflow_id}/confirm_erp_order")
    try:
        decided = await api.place(order, headers, Prefer="wait=payment")
        assert decided.status_code == 200 and decided.json()["payment"]["outcome"] == "charged"
        assert decided.json()["closed"] is False
        assert (await _until_closed(api, order.order_id, headers))["state"] == "completed"
    finally:
        await harness.faults.set("erp", {})


async def test_the_payment_answer_is_the_order_as_its_decision_left_it_without_a_query(api: Api, harness):
    # The answer comes from the decision's own progress. A query after it waited behind the order's next workflow
    # task (the rest of its calls) and made the answer slower than the whole order (docs/performance.md). The confirm
    # call stalls so that the order is still running when the API describes it after the decision.
    headers = api.key()
    order = make_order()
    await harness.faults.script("erp", "stall", times=1, match=f"{order.workflow_id}/confirm_erp_order")
    try:
        with calls_of("query") as asked:
            decided = await api.place(order, headers, Prefer="wait=payment")
        assert decided.status_code == 200, decided.text
        assert order.workflow_id not in asked
        body = decided.json()
        assert (body["state"], body["closed"], body["execution_status"]) == ("running", False, "RUNNING")
        assert body["payment"]["outcome"] == "charged" and body["payment"]["charge_id"]
        assert body["completed_steps"] == ["create_erp_order", "charge_payment"]
        assert body["current_step"] == "reserve_inventory"
        assert (await _until_closed(api, order.order_id, headers))["state"] == "completed"
    finally:
        await harness.faults.set("erp", {})


async def test_a_wait_that_sees_the_order_close_answers_from_its_result_without_reading_it_again(api: Api):
    # The wait's long poll returns the order's result; how it returned (completed, or failed carrying a compensated
    # result) is its execution's status. Reading the order again after it, as a GET does (a describe, then the result
    # once more), cost every placement that waited two more round trips to the server.
    headers = api.key()
    order = make_order()
    with calls_of("describe") as describes:
        answer = await api.place(order, headers, Prefer="wait=30")
        looked_up = describes.count(order.workflow_id)
        describes.clear()
        got = await api.http.get(f"{api.url}/orders/{order.order_id}", headers=headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["state"], body["closed"], body["execution_status"]) == ("completed", True, "COMPLETED")
    assert looked_up <= 1, looked_up  # the owner's lookup before the start, and nothing after the close
    assert describes.count(order.workflow_id) == 1  # a GET describes it, once
    assert {key: value for key, value in got.json().items() if value != body[key]} == {}


async def test_the_event_stream_delivers_every_step_and_ends_and_resumes(api: Api):
    headers = api.key()
    order = make_order()
    await api.place(order, headers)
    url = f"{api.url}/orders/{order.order_id}/events"

    events = await _read_stream(api, url, headers)

    kinds = [(e["event"], json.loads(e["data"]).get("step") or json.loads(e["data"]).get("state")) for e in events]
    assert kinds[0] == ("step_started", "create_erp_order")
    assert ("step_done", "charge_payment") in kinds and kinds[-1] == ("state", "completed")
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))
    resumed = await _read_stream(api, url, headers | {"Last-Event-ID": "3"})
    assert [int(e["id"]) for e in resumed] == list(range(4, len(events) + 1))


async def _read_stream(api: Api, url: str, headers: dict[str, str]) -> list[dict[str, str]]:
    events, current = [], {}
    async with asyncio.timeout(60), api.http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(current)
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                current[field] = value.strip()
    return events


async def test_cancel_and_operator_actions_answer_with_the_orders_state(api: Api, harness):
    headers = api.key()
    order = make_order()
    await harness.faults.script("payment", "error", times=50, match=f"{order.workflow_id}/charge_payment")
    try:
        await api.place(order, headers)
        cancelled = await api.http.post(f"{api.url}/orders/{order.order_id}/cancel", headers=headers)
        assert cancelled.status_code == 202
        closed = await _until_closed(api, order.order_id, headers)
        assert (closed["state"], closed["reason"]) == ("compensated", "cancelled on request")
    finally:
        await harness.faults.unscript("payment", f"{order.workflow_id}/charge_payment")
    again = _problem(await api.http.post(f"{api.url}/orders/{order.order_id}/cancel", headers=headers), 409)
    assert "already ended" in again["detail"]
    assert again["detail"].endswith(f"See GET /orders/{order.order_id}."), again
    retry = _problem(await api.http.post(f"{api.url}/orders/{order.order_id}/retry-compensation", headers=headers), 409)
    assert "not needs_attention" in retry["detail"]
    assert _problem(await api.http.post(f"{api.url}/orders/nope-{uuid.uuid4().hex[:6]}/cancel", headers=headers), 404)


async def test_listing_filters_by_state_and_pages(api: Api):
    headers = api.key()
    for _ in range(3):
        await api.place(make_order(), headers, Prefer="wait=30")
    first = (
        await api.http.get(f"{api.url}/orders", params={"state": "completed", "page_size": 2}, headers=headers)
    ).json()
    assert len(first["orders"]) == 2 and all(o["state"] == "completed" for o in first["orders"])
    assert first["orders"][0]["started_at"] >= first["orders"][1]["started_at"]  # newest first
    second = (
        await api.http.get(
            f"{api.url}/orders",
            params={"state": "completed", "page_size": 2, "page_token": first["next_page_token"]},
            headers=headers,
        )
    ).json()
    assert {o["order_id"] for o in second["orders"]}.isdisjoint(o["order_id"] for o in first["orders"])
    assert _problem(await api.http.get(f"{api.url}/orders", params={"state": "lost"}, headers=headers), 422)


async def test_bad_requests_are_problems_that_name_the_field_and_start_nothing(api: Api, harness):
    headers = api.key()
    order = make_order().model_dump(mode="json")
    url = f"{api.url}/orders"

    invalid = _problem(
        await api.http.post(
            url, json={**order, "lines": [{"sku": "SKU-BOOK", "quantity": 0, "unit_price": 5}]}, headers=headers
        ),
        422,
    )
    assert invalid["errors"][0]["field"] == "lines.0.quantity"
    assert (
        _problem(await api.http.post(url, json={**order, "coupon": "x"}, headers=headers), 422)["errors"][0]["field"]
        == "coupon"
    )
    unknown_sku = {**order, "lines": [{"sku": "SKU-NOPE", "quantity": 1, "unit_price": 5}]}
    assert (
        _problem(await api.http.post(url, json=unknown_sku, headers=headers), 422)["errors"][0]["field"]
        == "lines.0.sku"
    )
    card = {**order, "payment_token": "4242 4242 4242 4242"}
    assert "card number" in _problem(await api.http.post(url, json=card, headers=headers), 422)["detail"]
    malformed = _problem(
        await api.http.post(url, content=b"{oops", headers=headers | {"Content-Type": "application/json"}), 422
    )
    # As `cadenza order place` says it: the whole document, not a character offset taken for a field.
    assert malformed["errors"][0]["field"] == "(whole document)", malformed
    assert malformed["errors"][0]["message"].startswith("malformed JSON"), malformed
    assert _problem(await api.http.post(url, content=b"a=1", headers=headers | {"Content-Type": "text/plain"}), 415)
    assert _problem(
        await api.http.post(
            url, content=b"x" * (1024 * 1024 + 1), headers=headers | {"Content-Type": "application/json"}
        ),
        413,
    )
    assert (await harness.records.for_order(order["order_id"])).erp_order is None


async def test_temporal_unreachable_is_a_503_with_retry_after_and_the_api_recovers(harness: Harness, tmp_path):
    target = {"address": f"127.0.0.1:{free_port()}"}  # nothing listens there
    app = _app(harness, tmp_path, lambda: target["address"])
    port = free_port()
    server, task = await _serve(app, port)
    key, _ = app.state.api_keys.create(name="t", scopes=ALL_SCOPES, customer_id=None)
    headers = {"Authorization": f"Bearer {key}"}
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200
            down = await http.post(f"{url}/orders", json=make_order().model_dump(mode="json"), headers=headers)
            assert _problem(down, 503) and down.headers["retry-after"] == "5"
            assert _problem(await http.get(f"{url}/readyz"), 503)
            target["address"] = harness.config.temporal_address  # Temporal is back
            async with asyncio.timeout(20):
                while (await http.get(f"{url}/readyz")).status_code != 200:
                    await asyncio.sleep(0.5)
            up = await http.post(
                f"{url}/orders", json=make_order().model_dump(mode="json"), headers=headers | {"Prefer": "wait=30"}
            )
            assert up.status_code == 200 and up.json()["state"] == "completed"  # closed before the next test runs
    finally:
        server.should_exit = True
        await task


async def test_request_metrics_count_answers_by_route_template(api: Api):
    headers = api.key()
    await api.http.get(f"{api.url}/orders/unknown-{uuid.uuid4().hex[:6]}", headers=headers)
    text = (await api.http.get(f"{api.url}/metrics")).text
    assert 'cadenza_api_requests_total{method="GET",route="/orders/{order_id}",status="404"}' in text
    assert "cadenza_api_request_duration_seconds_bucket" in text


async def test_the_order_api_answers_as_its_openapi_document_says(api: Api):
    # The generated client is one key in a hurry, and sends requests without its key on purpose (to see them refused):
    # neither is what the rate limits are for.
    api.app.state.api_rate_limiter = RateLimiter(None)
    api.app.state.anonymous_rate_limiter = RateLimiter(None)
    document = (await api.http.get(f"{api.url}/openapi.json")).json()
    # Bound to a customer of its own: the generated client sees (and reuses ids of) only the orders it placed, never
    # another test's — a placement for any other customer is the documented 403.
    headers = api.key(*ALL_SCOPES, customer=CONTRACT_CUSTOMER)
    schema = api_schema(document, api.url, headers, seed=20261126, examples=15)

    # In a thread: the API and the worker answering it run on this event loop.
    with following_a_rule_in_words(schema, _within_the_total_cap):
        run = await asyncio.to_thread(execute, schema)

    # No examples in the document, so no examples phase; the stateful phase follows the orders it places.
    assert_contract_kept(run, phases=("coverage", "fuzzing", "stateful"), min_successes=10)


CONTRACT_CUSTOMER = "c-contract"


def _within_the_total_cap(case) -> None:
    """The one rule the document states in words (`lines`' description): an order totals at most MAX_AMOUNT. A client
    that follows it scales its prices down to fit; every other rule is in the schema."""
    body = case.body
    if case.method != "POST" or not isinstance(body, dict) or not isinstance(body.get("lines"), list):
        return
    lines = body["lines"]
    total = sum(line["quantity"] * line["unit_price"] for line in lines)
    if total <= MAX_AMOUNT:
        return
    factor = -(-total // MAX_AMOUNT)
    for line in lines:
        line["unit_price"] //= factor
    if not any(line["unit_price"] for line in lines):  # the schema's other rule: some line has a price
        lines[0]["unit_price"] = 1


async def test_needs_attention_on_demand_and_healed_by_retry_compensation_from_the_api_and_the_cli(api: Api, harness):
    """Practice for the state an operator most needs to know: a refund refused for good (`cadenza faults refuse`)
    puts an order in needs_attention within seconds; once the fault is cleared, retry-compensation heals it, over
    HTTP and from the CLI alike, and the services' records agree."""
    from tests.integration.test_cli import _cadenza_async

    env = harness.config.client_env()
    headers = api.key()
    run = uuid.uuid4().hex[:6]
    orders = {door: make_order(order_id=f"na-{run}-{door}", skus=("SKU-BOOK", "SKU-OOS")) for door in ("api", "cli")}
    matches = {door: f"{order.workflow_id}/refund_payment" for door, order in orders.items()}
    try:
        for match in matches.values():
            refused = await _cadenza_async(["faults", "refuse", "payment", "--match", match], env)
            assert refused.returncode == 0, refused.stderr
        started = asyncio.get_running_loop().time()
        for order in orders.values():
            assert (await api.place(order, headers)).status_code in (201, 202)
        for order in orders.values():
            async with asyncio.timeout(30):
                while (body := (await api.http.get(f"{api.url}/orders/{order.order_id}", headers=headers)).json())[
                    "state"
                ] != "needs_attention":
                    assert not body["closed"], body
                    await asyncio.sleep(0.2)
        assert asyncio.get_running_loop().time() - started < 30  # seconds, not COMPENSATION_DEADLINE's 30 minutes
        status = await _cadenza_async(["order", "status", orders["cli"].order_id], env)
        assert "needs_attention" in status.stdout and "409 refused" in status.stdout, status.stdout
    finally:
        for match in matches.values():
            cleared = await _cadenza_async(["faults", "clear", "payment", "--match", match], env)
            assert cleared.returncode == 0, cleared.stderr

    healed = await api.http.post(f"{api.url}/orders/{orders['api'].order_id}/retry-compensation", headers=headers)
    assert healed.status_code == 202, healed.text
    retried = await _cadenza_async(["order", "retry-compensation", orders["cli"].order_id], env)
    assert retried.returncode == 0, retried.stderr
    for order in orders.values():
        closed = await _until_closed(api, order.order_id, headers)
        assert closed["state"] == "compensated", closed
        records = await harness.records.for_order(order.order_id)
        assert records.succeeded_charges and not records.live_charges, records  # refunded once the fault was cleared
        assert not inconsistencies(OrderState.COMPENSATED, order.total_amount, records)
