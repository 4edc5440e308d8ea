"""The payment provider: charges, declines, refunds and the audit listings."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.service_helpers import ClientFactory, charge_body, error_code, key


async def charge(client: httpx.AsyncClient, **overrides: object) -> dict[str, Any]:
    """Make a successful charge and return it."""
    response = await client.post("/charges", json=charge_body() | overrides)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.mark.parametrize(("token", "brand"), [("tok_visa", "visa"), ("tok_mastercard", "mastercard")])
async def test_test_cards_charge_successfully(token: str, brand: str, payment_client: httpx.AsyncClient) -> None:
    response = await payment_client.post("/charges", json=charge_body("order-1", token, amount=1999, currency="USD"))

    assert response.status_code == 201
    created = response.json()
    assert created["id"].startswith("ch_")
    assert created | {"id": None, "created_at": None} == {
        "id": None,
        "order_id": "order-1",
        "amount": 1999,
        "currency": "USD",
        "status": "succeeded",
        "amount_refunded": 0,
        "refunded": False,
        "card_brand": brand,
        "failure_code": None,
        "failure_message": None,
        "created_at": None,
    }
    assert token not in response.text
    assert (await payment_client.get(f"/charges/{created['id']}")).json() == created


@pytest.mark.parametrize(
    ("token", "code"), [("tok_chargeDeclined", "card_declined"), ("tok_insufficientFunds", "insufficient_funds")]
)
async def test_declines_are_402_and_recorded_as_failed(
    token: str, code: str, payment_client: httpx.AsyncClient
) -> None:
    response = await payment_client.post("/charges", json=charge_body("order-1", token))

    assert response.status_code == 402
    assert error_code(response) == code
    charges = (await payment_client.get("/charges", params={"order_id": "order-1"})).json()["charges"]
    assert len(charges) == 1
    assert charges[0]["id"] == response.json()["error"]["charge"]
    assert charges[0]["status"] == "failed"
    assert charges[0]["failure_code"] == code
    assert charges[0]["refunded"] is False


@pytest.mark.parametrize("token", ["tok_unknown", "4242424242424242", "TOK_VISA"])
async def test_unknown_tokens_are_400_and_not_recorded(token: str, payment_client: httpx.AsyncClient) -> None:
    response = await payment_client.post("/charges", json=charge_body("order-1", token))

    assert response.status_code == 400
    assert error_code(response) == "invalid_payment_token"
    assert token not in response.text
    assert (await payment_client.get("/charges")).json()["charges"] == []


async def test_payment_tokens_are_never_stored(tmp_path: Path, make_client: ClientFactory) -> None:
    client = make_client("payment", db="ledger")
    tokens = ("tok_visa", "tok_mastercard", "tok_chargeDeclined", "tok_insufficientFunds", "tok_secret_123")
    for number, token in enumerate(tokens):
        await client.post("/charges", json=charge_body("order-1", token), headers=key(f"attempt-{number}"))

    with sqlite3.connect(tmp_path / "ledger.db") as connection:
        charge_values = [str(value) for row in connection.execute("SELECT * FROM charges") for value in row]
        dump = "\n".join(connection.iterdump())

    assert len(charge_values) > 0
    assert not [value for value in charge_values if "tok_" in value]
    # An unknown token could be someone's real credential: it must not even reach a stored error message.
    assert "tok_secret_123" not in dump


async def test_several_charges_per_order_are_allowed(payment_client: httpx.AsyncClient) -> None:
    # Preventing a double charge is the orchestrator's job, not the provider's.
    first = await charge(payment_client, order_id="order-1")
    second = await charge(payment_client, order_id="order-1")
    await charge(payment_client, order_id="order-2")

    listed = (await payment_client.get("/charges", params={"order_id": "order-1"})).json()["charges"]

    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert len((await payment_client.get("/charges")).json()["charges"]) == 3
    assert len((await payment_client.get("/charges", params={"limit": 1, "offset": 2})).json()["charges"]) == 1


async def test_full_refund_then_second_refund_is_409(payment_client: httpx.AsyncClient) -> None:
    created = await charge(payment_client, amount=2500)

    refund = await payment_client.post(f"/charges/{created['id']}/refunds", headers=key("refund-1"))
    again = await payment_client.post(f"/charges/{created['id']}/refunds", json={}, headers=key("refund-2"))

    assert refund.status_code == 201
    assert refund.json()["id"].startswith("re_")
    assert refund.json()["charge_id"] == created["id"]
    assert refund.json()["amount"] == 2500
    assert again.status_code == 409
    assert error_code(again) == "charge_already_refunded"
    after = (await payment_client.get(f"/charges/{created['id']}")).json()
    assert after["refunded"] is True
    assert after["amount_refunded"] == 2500
    refunds = (await payment_client.get("/refunds", params={"charge_id": created["id"]})).json()["refunds"]
    assert [r["id"] for r in refunds] == [refund.json()["id"]]


async def test_partial_refunds_add_up(payment_client: httpx.AsyncClient) -> None:
    created = await charge(payment_client, amount=1000)
    path = f"/charges/{created['id']}/refunds"

    first = await payment_client.post(path, json={"amount": 300})
    too_much = await payment_client.post(path, json={"amount": 701})
    after_first = (await payment_client.get(f"/charges/{created['id']}")).json()
    rest = await payment_client.post(path, json={})

    assert first.status_code == 201
    assert after_first["amount_refunded"] == 300
    assert after_first["refunded"] is False
    # 409 like `charge_already_refunded`: well formed, but more than is left on the charge now.
    assert too_much.status_code == 409
    assert error_code(too_much) == "amount_too_large"
    assert too_much.json()["error"]["refundable"] == 700
    assert rest.status_code == 201
    assert rest.json()["amount"] == 700
    assert (await payment_client.get(f"/charges/{created['id']}")).json()["refunded"] is True
    assert len((await payment_client.get("/refunds")).json()["refunds"]) == 2


async def test_failed_charge_is_not_refundable(payment_client: httpx.AsyncClient) -> None:
    declined = await payment_client.post("/charges", json=charge_body(payment_token="tok_chargeDeclined"))
    charge_id = declined.json()["error"]["charge"]

    response = await payment_client.post(f"/charges/{charge_id}/refunds")

    assert response.status_code == 409
    assert error_code(response) == "charge_not_refundable"


async def test_unknown_charge_is_404(payment_client: httpx.AsyncClient) -> None:
    read = await payment_client.get("/charges/ch_nope")
    refund = await payment_client.post("/charges/ch_nope/refunds")

    for response in (read, refund):
        assert response.status_code == 404
        assert error_code(response) == "charge_not_found"


@pytest.mark.parametrize("amount", [0, -1, 10**12 + 1, "5", 1.5])
async def test_invalid_refund_amounts_are_422(amount: object, payment_client: httpx.AsyncClient) -> None:
    created = await charge(payment_client)

    response = await payment_client.post(f"/charges/{created['id']}/refunds", json={"amount": amount})

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
