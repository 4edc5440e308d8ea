"""The saga routes' refusals (api/sagas.py), answered before Temporal is asked — and the 503 when it cannot be — on
a small app over ASGI; and the folder of definitions an API serves (clients/sagas/folder.py), refused whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.holds import Holds
from api.ratelimit import RateLimiter
from api.sagas import saga_router
from api.temporal import TemporalGate
from api.update_guard import UpdateGuard
from cadenza.connection import TemporalUnavailable
from cadenza.errors import EXIT_BAD_INPUT
from cadenza.problems import PROBLEM_JSON, install_problem_handlers
from clients.api_keys import KeyStoreSettings, load_key_store
from clients.sagas import InvalidDefinition, load_definition
from clients.sagas.folder import load_folder
from tests.unit.test_saga_examples import EXAMPLES

ORDER_INPUT = json.loads((EXAMPLES / "order.input.json").read_text())


async def _unreachable():
    raise TemporalUnavailable("Cannot reach Temporal at 127.0.0.1:1.")


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.api_keys = load_key_store(KeyStoreSettings(keys_file=None, keys_json=None, state_dir=tmp_path))
    app.state.api_rate_limiter = RateLimiter(None)
    app.state.anonymous_rate_limiter = RateLimiter(None)
    app.state.temporal = TemporalGate(_unreachable)
    app.state.holds = Holds.from_environment()
    app.state.update_guard = UpdateGuard()
    app.state.task_queue = "unused"
    app.include_router(saga_router({"order": load_definition(EXAMPLES / "order.yaml")}))
    return app


def _key(app: FastAPI, *scopes: str, customer: str | None = None) -> dict[str, str]:
    key, _ = app.state.api_keys.create(
        name="t", scopes=list(scopes or ("sagas:write", "sagas:read", "sagas:operate")), customer_id=customer
    )
    return {"Authorization": f"Bearer {key}"}


async def _post(app: FastAPI, path: str, headers: dict[str, str], **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        return await http.post(path, headers=headers, **kwargs)


async def _get(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
        return await http.get(path, headers=headers)


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    return response.json()


async def test_an_input_the_schema_refuses_is_a_422_naming_each_field(app: FastAPI):
    run_input = {**ORDER_INPUT, "total_amount": "ten", "shipping_address": {**ORDER_INPUT["shipping_address"]}}
    del run_input["shipping_address"]["city"]
    body = _problem(await _post(app, "/sagas/order/runs", _key(app), json=run_input), 422)
    assert [(error["field"], error["message"]) for error in body["errors"]] == [
        ("shipping_address", "'city' is a required property"),
        ("total_amount", "'ten' is not of type 'integer'"),
    ]
    assert "total_amount" in body["detail"] and "shipping_address" in body["detail"]


async def test_a_body_that_is_not_a_json_object_is_refused_before_temporal_is_asked(app: FastAPI):
    headers = _key(app) | {"Content-Type": "application/json"}
    assert _problem(await _post(app, "/sagas/order/runs", headers, content=b"{"), 422)["errors"][0]["field"] == "body"
    listed = _problem(await _post(app, "/sagas/order/runs", _key(app), json=[1]), 422)
    assert listed["errors"][0]["field"] == "(the input)"
    assert _problem(await _post(app, "/sagas/order/runs", _key(app), content=b"a=1"), 415)
    waits = _problem(await _post(app, "/sagas/order/runs", _key(app) | {"Prefer": "wait=soon"}, json=ORDER_INPUT), 422)
    assert waits["errors"][0]["field"] == "Prefer"


async def test_scopes_and_customer_keys(app: FastAPI):
    no_scope = _problem(await _post(app, "/sagas/order/runs", _key(app, "orders:write"), json=ORDER_INPUT), 403)
    assert no_scope["required_scope"] == "sagas:write"
    customers = _problem(await _post(app, "/sagas/order/runs", _key(app, customer="c-1"), json=ORDER_INPUT), 403)
    assert "sagas are not scoped to a customer" in customers["detail"]
    assert _problem(await _post(app, "/sagas/order/runs", {}, json=ORDER_INPUT), 401)
    retry = _problem(
        await _post(app, "/sagas/order/runs/saga-order-x/retry-compensation", _key(app, "sagas:write")), 403
    )
    assert retry["required_scope"] == "sagas:operate"


async def test_an_id_of_no_run_of_this_saga_is_a_404_without_asking_temporal(app: FastAPI):
    for path in ("/sagas/order/runs/order-ord-1", "/sagas/order/runs/saga-travel-trip-1"):
        assert _problem(await _get(app, path, _key(app)), 404)["title"] == "Run not found"
    assert _problem(await _post(app, "/sagas/order/runs/order-ord-1/cancel", _key(app)), 404)
    assert _problem(await _post(app, "/sagas/travel/runs", _key(app), json={}), 404)  # not served


async def test_temporal_unreachable_is_a_503_with_retry_after(app: FastAPI):
    down = await _post(app, "/sagas/order/runs", _key(app), json=ORDER_INPUT)
    assert _problem(down, 503) and down.headers["retry-after"] == "5"
    assert _problem(await _get(app, "/sagas/order/runs/saga-order-order-1", _key(app)), 503)


def test_the_document_states_each_sagas_input_as_its_body(app: FastAPI):
    document = app.openapi()
    body = document["paths"]["/sagas/order/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == load_definition(EXAMPLES / "order.yaml").input_schema


def test_a_folder_is_served_whole_or_refused_with_every_problem(tmp_path: Path):
    assert sorted(load_folder(EXAMPLES)) == ["order", "travel"]
    shutil.copytree(EXAMPLES, tmp_path / "sagas")
    folder = tmp_path / "sagas"
    broken = (folder / "travel.yaml").read_text().replace("call: flight.createBooking", "call: flight.createBookin")
    (folder / "travel.yaml").write_text(broken)
    shutil.copy(folder / "order.yaml", folder / "z-order-again.yaml")
    with pytest.raises(InvalidDefinition) as refused:
        load_folder(folder)
    assert refused.value.exit_code == EXIT_BAD_INPUT
    lines = str(refused.value).splitlines()
    assert any("z-order-again.yaml:1: saga 'order' is already declared by" in line for line in lines), lines
    assert any("travel.yaml:" in line and "createBookin" in line for line in lines), lines
    with pytest.raises(InvalidDefinition, match="no such folder"):
        load_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidDefinition, match="holds no saga definition"):
        load_folder(tmp_path / "empty")
