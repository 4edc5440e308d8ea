"""Behaviour every simulated service shares: health, docs, auth, error shape, validation."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.services.service_helpers import (
    SERVICE_FACTORIES,
    TOKEN,
    ClientFactory,
    charge_body,
    client_for,
    error_code,
    key,
    order_body,
)

# One authenticated read per service, to probe auth without side effects.
PROTECTED_READS = {
    "erp": "/orders",
    "payment": "/charges",
    "inventory": "/stock",
    "flight": "/bookings",
    "hotel": "/stays",
    "car": "/rentals",
}
SERVICES = sorted(SERVICE_FACTORIES)


@pytest.mark.parametrize("service", SERVICES)
async def test_health_and_docs_need_no_token(service: str, tmp_path: Path) -> None:
    async with client_for(SERVICE_FACTORIES[service](tmp_path / "x.db", TOKEN), headers={}) as client:
        health = await client.get("/health")
        openapi = await client.get("/openapi.json")
        docs = await client.get("/docs")

    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": service}
    assert openapi.status_code == 200
    assert openapi.json()["info"]["title"]
    assert "/admin/faults" in openapi.json()["paths"]
    assert docs.status_code == 200


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}],
    ids=["missing", "wrong-token", "wrong-scheme", "empty"],
)
async def test_protected_routes_answer_401_without_the_token(
    service: str, headers: dict[str, str], tmp_path: Path
) -> None:
    async with client_for(SERVICE_FACTORIES[service](tmp_path / "x.db", TOKEN), headers=headers) as client:
        read = await client.get(PROTECTED_READS[service])
        admin = await client.get("/admin/stats")

    for response in (read, admin):
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"
        assert response.json()["error"]["message"]
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_unauthenticated_mutation_has_no_effect(tmp_path: Path) -> None:
    app = SERVICE_FACTORIES["payment"](tmp_path / "x.db", TOKEN)
    async with client_for(app, headers={}) as anonymous, client_for(app) as authorised:
        rejected = await anonymous.post("/charges", json=charge_body())
        charges = (await authorised.get("/charges")).json()["charges"]

    assert rejected.status_code == 401
    assert charges == []


@pytest.mark.parametrize("service", SERVICES)
async def test_unknown_route_is_404_not_found(service: str, make_client: ClientFactory) -> None:
    response = await make_client(service).get("/no/such/route")

    assert response.status_code == 404
    assert error_code(response) == "not_found"


async def test_wrong_method_keeps_error_shape(erp_client: httpx.AsyncClient) -> None:
    response = await erp_client.delete("/orders")

    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"


@pytest.mark.parametrize(
    ("service", "method", "path", "allowed"),
    [
        # GET and POST /orders are two routes; Starlette alone would name only the first one's method.
        ("erp", "DELETE", "/orders", "GET, POST"),
        ("erp", "PUT", "/orders/order-1", "GET"),
        ("erp", "GET", "/orders/order-1/confirm", "POST"),
        ("payment", "PATCH", "/charges", "GET, POST"),
        ("inventory", "DELETE", "/admin/faults", "GET, PUT"),
    ],
)
async def test_405_allow_names_every_method_of_the_path(
    service: str, method: str, path: str, allowed: str, make_client: ClientFactory
) -> None:
    response = await make_client(service).request(method, path)

    assert response.status_code == 405
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b"order_id=1", "application/x-www-form-urlencoded"),
        (b"", "application/json"),
        (b"null", "application/json"),
        (b"[]", "application/json"),
    ],
    ids=["malformed", "not-utf8", "deeply-nested", "form", "empty", "null", "array"],
)
async def test_undecodable_bodies_are_422_validation_error(
    content: bytes, content_type: str, erp_client: httpx.AsyncClient
) -> None:
    response = await erp_client.post("/orders", content=content, headers={"Content-Type": content_type})

    assert response.status_code == 422
    assert error_code(response) == "validation_error"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"total_amount": 0}, "total_amount"),
        ({"total_amount": -5}, "total_amount"),
        ({"total_amount": 10**12 + 1}, "total_amount"),
        ({"total_amount": 10**30}, "total_amount"),
        ({"total_amount": "2500"}, "total_amount"),
        ({"total_amount": 2500.5}, "total_amount"),
        ({"total_amount": True}, "total_amount"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "has space"}, "order_id"),
        ({"order_id": "x" * 65}, "order_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 0, "unit_price": 1}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 10_001, "unit_price": 1}]}, "lines[0].quantity"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": -1}]}, "lines[0].unit_price"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 1}] * 101}, "lines"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(
    overrides: dict[str, object], field: str, erp_client: httpx.AsyncClient
) -> None:
    response = await erp_client.post("/orders", json=order_body() | overrides)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert field in response.json()["error"]["message"]
    assert (await erp_client.get("/orders")).json()["orders"] == []


async def test_a_whole_number_written_as_a_float_is_that_integer(erp_client: httpx.AsyncClient) -> None:
    # JSON Schema, which the OpenAPI 3.1 document speaks, counts 2500.0 as the integer 2500.
    body = order_body(total_amount=2500.0, lines=[{"sku": "SKU-BOOK", "quantity": 2.0, "unit_price": 1250.0}])

    response = await erp_client.post("/orders", json=body)

    assert response.status_code == 201
    stored = (await erp_client.get("/orders/order-1")).json()
    assert (stored["total_amount"], stored["lines"][0]["quantity"], stored["lines"][0]["unit_price"]) == (2500, 2, 1250)
    assert isinstance(stored["total_amount"], int)


async def test_missing_field_is_named(payment_client: httpx.AsyncClient) -> None:
    body = charge_body()
    del body["currency"]

    response = await payment_client.post("/charges", json=body)

    assert response.status_code == 422
    assert "currency" in response.json()["error"]["message"]
    assert response.json()["error"]["details"][0] == {
        "field": "currency",
        "message": "Field required",
        "type": "missing",
    }


@pytest.mark.parametrize("bad_key", ["", "k" * 256])
async def test_idempotency_key_length_is_validated(bad_key: str, payment_client: httpx.AsyncClient) -> None:
    response = await payment_client.post("/charges", json=charge_body(), headers=key(bad_key))

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["error"]["message"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "offset=-1", "offset=99999999999999999999999", "limit=abc"])
async def test_paging_parameters_are_validated(query: str, erp_client: httpx.AsyncClient) -> None:
    response = await erp_client.get(f"/orders?{query}")

    assert response.status_code == 422
    assert error_code(response) == "validation_error"


@pytest.mark.parametrize("currency", ["EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD"])
async def test_every_listed_currency_is_accepted(currency: str, payment_client: httpx.AsyncClient) -> None:
    response = await payment_client.post("/charges", json=charge_body(currency=currency, amount=10**12))

    assert response.status_code == 201
    assert response.json()["currency"] == currency


async def test_a_genuine_bug_answers_500_in_the_error_shape(tmp_path: Path) -> None:
    app = SERVICE_FACTORIES["erp"](tmp_path / "x.db", TOKEN)

    async def broken() -> None:
        raise RuntimeError("bug")

    app.add_api_route("/broken", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/broken")

    assert response.status_code == 500
    assert error_code(response) == "internal_error"
