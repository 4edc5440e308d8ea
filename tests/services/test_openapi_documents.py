"""Each service's OpenAPI document states the formats the service really accepts and issues.

test_contracts.py lets schemathesis find any mismatch by generating requests; these pin the published formats to
their single sources (the test tokens, the seeded stock, the id generator), so a token or SKU added in one place and
not the other fails here by name.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.services.service_helpers import SERVICE_FACTORIES, ClientFactory, charge_body, reservation_body


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def path_parameter(doc: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    parameters = doc["paths"][path][method]["parameters"]
    schema: dict[str, Any] = next(p["schema"] for p in parameters if p["name"] == name and p["in"] == "path")
    return schema


async def test_the_published_payment_tokens_are_the_accepted_ones(payment_client: httpx.AsyncClient) -> None:
    doc = await document(payment_client)
    published = doc["components"]["schemas"]["CreateChargeRequest"]["properties"]["payment_token"]["enum"]

    answers = {
        token: (await payment_client.post("/charges", json=charge_body(payment_token=token))).status_code
        for token in published
    }
    unknown = await payment_client.post("/charges", json=charge_body(payment_token="tok_amex"))

    assert answers == {"tok_visa": 201, "tok_mastercard": 201, "tok_chargeDeclined": 402, "tok_insufficientFunds": 402}
    assert unknown.status_code == 400


async def test_the_published_skus_are_the_stocked_ones(inventory_client: httpx.AsyncClient) -> None:
    doc = await document(inventory_client)
    stocked = sorted(level["sku"] for level in (await inventory_client.get("/stock")).json()["stock"])
    in_lines = doc["components"]["schemas"]["ReservationLine"]["properties"]["sku"]["enum"]
    in_path = path_parameter(doc, "get", "/stock/{sku}", "sku")["enum"]

    assert sorted(in_lines) == sorted(in_path) == stocked


async def test_issued_ids_match_their_published_patterns(make_client: ClientFactory) -> None:
    payment, inventory = make_client("payment"), make_client("inventory")
    payment_doc, inventory_doc = await document(payment), await document(inventory)
    charge = (await payment.post("/charges", json=charge_body())).json()
    refund = (await payment.post(f"/charges/{charge['id']}/refunds", json={})).json()
    reservation = (await inventory.post("/reservations", json=reservation_body())).json()

    issued = {
        "charge": (charge["id"], path_parameter(payment_doc, "get", "/charges/{charge_id}", "charge_id")["pattern"]),
        "refund": (refund["id"], payment_doc["components"]["schemas"]["Refund"]["properties"]["id"]["pattern"]),
        "reservation": (
            reservation["id"],
            path_parameter(inventory_doc, "get", "/reservations/{reservation_id}", "reservation_id")["pattern"],
        ),
    }
    for noun, (issued_id, pattern) in issued.items():
        assert re.fullmatch(pattern, issued_id), f"{noun} id {issued_id!r} does not match {pattern!r}"


@pytest.mark.parametrize("service", sorted(SERVICE_FACTORIES))
async def test_every_documented_error_has_the_error_shape(service: str, make_client: ClientFactory) -> None:
    doc = await document(make_client(service))

    shapes = {
        f"{method.upper()} {path} {status}": response["content"]["application/json"]["schema"].get("$ref")
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        for status, response in operation["responses"].items()
        if not status.startswith("2")
    }

    # FastAPI documents its own `HTTPValidationError` for a 422 nobody declared; every answer here is ErrorResponse.
    assert shapes and set(shapes.values()) == {"#/components/schemas/ErrorResponse"}, shapes
