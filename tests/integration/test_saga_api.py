"""Declared sagas over HTTP (api/sagas.py): the order saga started, read, cancelled and refused through the API on a
real uvicorn against the real stack; outcomes are checked on the services' own records. The document's contract is
checked by schemathesis, as the Order API's is."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
import pytest_asyncio

from api.ratelimit import RateLimiter
from clients.sagas import load_definition
from tests.contract_checks import api_schema, assert_contract_kept, execute
from tests.integration.conftest import Harness
from tests.integration.test_declared_order_saga import saga_input
from tests.integration.test_order_api import Api, _app, _problem, served
from tests.unit.test_saga_examples import EXAMPLES

pytestmark = pytest.mark.integration

SAGA_SCOPES = ("sagas:write", "sagas:read", "sagas:operate")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sagas_api(harness: Harness, tmp_path_factory) -> AsyncIterator[Api]:
    # The order saga only: its services are the harness's, which its worker reaches.
    sagas = {"order": load_definition(EXAMPLES / "order.yaml")}
    app = _app(harness, tmp_path_factory.mktemp("sagas-api"), lambda: harness.config.temporal_address, sagas=sagas)
    async with served(app, timeout=90) as api:
        yield api


def _key(api: Api, *scopes: str, customer: str | None = None) -> dict[str, str]:
    return api.key(*(scopes or SAGA_SCOPES), customer=customer)


async def test_a_run_started_over_http_completes_and_is_readable(sagas_api: Api, harness: Harness):
    headers = _key(sagas_api)
    run_input = saga_input()
    started = await sagas_api.http.post(
        f"{sagas_api.url}/sagas/order/runs", json=run_input, headers=headers | {"Prefer": "wait=60"}
    )
    assert started.status_code == 200, started.text
    body = started.json()
    assert (body["state"], body["closed"], body["saga"]) == ("completed", True, "order")
    assert started.headers["preference-applied"] == "wait=60"
    assert started.headers["location"] == body["links"]["self"] == f"/sagas/order/runs/{quote(body['run_id'])}"
    records = await harness.records.for_order(run_input["order_id"])
    assert records.erp_order is not None and records.erp_order["status"] == "confirmed"
    [charge] = records.charges
    assert body["progress"]["results"]["charge"]["id"] == charge["id"]

    read = await sagas_api.http.get(f"{sagas_api.url}{body['links']['self']}", headers=_key(sagas_api, "sagas:read"))
    assert read.status_code == 200 and read.json()["progress"]["completed_steps"] == body["progress"]["completed_steps"]

    # The same input again attaches (one run, one charge); another input under the same run id is a 409.
    again = await sagas_api.http.post(f"{sagas_api.url}/sagas/order/runs", json=run_input, headers=headers)
    assert again.status_code == 200 and again.json()["run_id"] == body["run_id"]
    other = await sagas_api.http.post(
        f"{sagas_api.url}/sagas/order/runs", json={**run_input, "total_amount": 1}, headers=headers
    )
    assert "different input" in _problem(other, 409)["detail"]
    assert len((await harness.records.for_order(run_input["order_id"])).charges) == 1

    # An ended run: neither cancelled nor retried, each answer naming why.
    path = f"{sagas_api.url}{body['links']['self']}"
    assert (
        "already ended (completed)"
        in _problem(await sagas_api.http.post(f"{path}/cancel", headers=headers), 409)["detail"]
    )
    retry = _problem(await sagas_api.http.post(f"{path}/retry-compensation", headers=headers), 409)
    assert retry["state"] == "completed"


async def test_a_declined_card_is_compensated_and_answered_at_once_without_a_wait(sagas_api: Api, harness: Harness):
    run_input = saga_input(token="tok_chargeDeclined")
    started = await sagas_api.http.post(f"{sagas_api.url}/sagas/order/runs", json=run_input, headers=_key(sagas_api))
    assert started.status_code == 202 and started.json()["state"] == "running", started.text
    assert started.json()["summary"].startswith(f"order {run_input['order_id']}: ")
    assert "preference-applied" not in started.headers
    async with asyncio.timeout(60):
        while not (
            view := (
                await sagas_api.http.get(f"{sagas_api.url}{started.headers['location']}", headers=_key(sagas_api))
            ).json()
        )["closed"]:
            await asyncio.sleep(0.2)
    assert (view["state"], view["progress"]["failed_step"]) == ("compensated", "charge")
    records = await harness.records.for_order(run_input["order_id"])
    assert records.erp_order is not None and records.erp_order["status"] == "cancelled"
    assert records.live_charges == [] and records.reservations_in("held", "committed") == []


async def test_a_run_cancelled_while_a_step_fails_is_undone_at_the_services(sagas_api: Api, harness: Harness):
    headers = _key(sagas_api)
    run_input = saga_input()
    run_id = f"saga-order-order-{run_input['order_id']}"
    # The charge's key is `<run id>/charge/<first run id>` (its undo's, `<run id>/charge.undo.0/…`, is not matched).
    match = f"{run_id}/charge/"
    await harness.faults.script("payment", "error", times=50, match=match)
    try:
        started = await sagas_api.http.post(f"{sagas_api.url}/sagas/order/runs", json=run_input, headers=headers)
        assert started.status_code == 202 and started.json()["run_id"] == run_id, started.text
        path = f"{sagas_api.url}{started.headers['location']}"
        async with asyncio.timeout(30):  # until it has an ERP order and is failing at the charge
            while (await sagas_api.http.get(path, headers=headers)).json()["progress"]["current_step"] != "charge":
                await asyncio.sleep(0.1)
        cancelled = await sagas_api.http.post(f"{path}/cancel", headers=headers)
        assert cancelled.status_code == 202 and "Cancellation requested" in cancelled.json()["detail"], cancelled.text
        async with asyncio.timeout(60):
            while not (view := (await sagas_api.http.get(path, headers=headers)).json())["closed"]:
                await asyncio.sleep(0.2)
    finally:
        await harness.faults.unscript("payment", match)
    assert (view["state"], view["progress"]["reason"]) == ("compensated", "cancelled on request")
    records = await harness.records.for_order(run_input["order_id"])
    assert records.erp_order is not None and records.erp_order["status"] == "cancelled"
    assert records.live_charges == []


async def test_cancel_asks_the_run_to_undo(sagas_api: Api, harness: Harness):
    # No worker polls this queue: the run stays where it started, so the cancel finds it running.
    sagas_api.app.state.task_queue = f"nobody-{uuid.uuid4().hex}"
    try:
        started = await sagas_api.http.post(
            f"{sagas_api.url}/sagas/order/runs", json=saga_input(), headers=_key(sagas_api)
        )
    finally:
        sagas_api.app.state.task_queue = harness.task_queue
    run_id = started.json()["run_id"]
    try:
        path = f"{sagas_api.url}{started.headers['location']}"
        read = (await sagas_api.http.get(path, headers=_key(sagas_api))).json()
        assert read["progress"] is None and "no worker" in read["note"]
        cancelled = await sagas_api.http.post(f"{path}/cancel", headers=_key(sagas_api, "sagas:write"))
        assert cancelled.status_code == 202 and "Cancellation requested" in cancelled.json()["detail"]
        history = await harness.client.get_workflow_handle(run_id).fetch_history()
        assert any(event.HasField("workflow_execution_cancel_requested_event_attributes") for event in history.events)
    finally:
        await harness.client.get_workflow_handle(run_id).terminate("test cleanup: no worker runs it")


async def test_refusals_are_problems_that_start_nothing(sagas_api: Api, harness: Harness):
    url = f"{sagas_api.url}/sagas/order/runs"
    run_input = saga_input()
    bad = await sagas_api.http.post(url, json={**run_input, "total_amount": "ten"}, headers=_key(sagas_api))
    assert [error["field"] for error in _problem(bad, 422)["errors"]] == ["total_amount"]
    missing = {key: value for key, value in run_input.items() if key != "lines"}
    assert (
        "'lines' is a required property"
        in _problem(await sagas_api.http.post(url, json=missing, headers=_key(sagas_api)), 422)["errors"][0]["message"]
    )
    not_json = await sagas_api.http.post(
        url, content=b"{", headers=_key(sagas_api) | {"Content-Type": "application/json"}
    )
    assert _problem(not_json, 422)["errors"][0]["field"] == "body"
    assert _problem(await sagas_api.http.post(url, content=b"x", headers=_key(sagas_api)), 415)
    assert (
        _problem(await sagas_api.http.post(url, json=run_input, headers=_key(sagas_api, "sagas:read")), 403)[
            "required_scope"
        ]
        == "sagas:write"
    )
    assert _problem(await sagas_api.http.post(url, json=run_input, headers=_key(sagas_api, customer="c-1")), 403)
    assert _problem(await sagas_api.http.post(url, json=run_input), 401)
    assert _problem(await sagas_api.http.post(url, json=run_input, headers=_key(sagas_api) | {"Prefer": "wait=x"}), 422)
    assert _problem(
        await sagas_api.http.post(f"{sagas_api.url}/sagas/nope/runs", json=run_input, headers=_key(sagas_api)), 404
    )
    unknown = await sagas_api.http.get(f"{url}/saga-order-nothing-{uuid.uuid4().hex}", headers=_key(sagas_api))
    assert _problem(unknown, 404)["title"] == "Run not found"
    an_order = await sagas_api.http.get(f"{url}/order-{uuid.uuid4().hex}", headers=_key(sagas_api))
    assert _problem(an_order, 404)["title"] == "Run not found"
    records = await harness.records.for_order(run_input["order_id"])
    assert records.erp_order is None and records.charges == []


async def test_the_saga_routes_answer_as_the_document_says(sagas_api: Api):
    sagas_api.app.state.api_rate_limiter = RateLimiter(None)
    sagas_api.app.state.anonymous_rate_limiter = RateLimiter(None)
    document = (await sagas_api.http.get(f"{sagas_api.url}/openapi.json")).json()
    document["paths"] = {path: item for path, item in document["paths"].items() if path.startswith("/sagas/")}
    schema = api_schema(document, sagas_api.url, _key(sagas_api), seed=20261207, examples=8)
    run = await asyncio.to_thread(execute, schema)
    assert_contract_kept(run, phases=("coverage", "fuzzing"), min_successes=0)
    assert run.statuses[202] >= 1, run.statuses
