"""Fencing by Idempotency-Key: a compensation undoes exactly the request it names, and a request that arrives after
its compensation is refused instead of committing. Asserted on each service's own records."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.services.service_helpers import ClientFactory, charge_body, error_code, order_body, reservation_body

CREATIONS: dict[str, tuple[str, Any]] = {
    "erp": ("/orders", order_body),
    "payment": ("/charges", charge_body),
    "inventory": ("/reservations", reservation_body),
}


async def _fence(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.post("/fences", json={"key": key})


async def _records_of(service: str, client: httpx.AsyncClient) -> list[dict[str, Any]]:
    path, listing = {
        "erp": ("/orders", "orders"),
        "payment": ("/charges", "charges"),
        "inventory": ("/reservations", "reservations"),
    }[service]
    return (await client.get(path)).json()[listing]


@pytest.mark.parametrize("service", list(CREATIONS))
async def test_a_request_arriving_after_its_fence_is_refused_and_changes_nothing(service, make_client: ClientFactory):
    client = make_client(service)
    path, body = CREATIONS[service]

    fence = await _fence(client, "order-1/step/run-1")
    assert fence.status_code == 201
    assert fence.json() | {"created_at": None} == {
        "key": "order-1/step/run-1",
        "request_found": False,
        "undone": False,
        "resource_id": None,
        "detail": "no request with this key had arrived; fenced",
        "created_at": None,
    }

    late = await client.post(path, json=body(), headers={"Idempotency-Key": "order-1/step/run-1"})
    assert late.status_code == 409 and error_code(late) == "request_fenced"
    assert await _records_of(service, client) == []
    stats = (await client.get("/admin/stats")).json()
    assert (stats["fences"], stats["fenced_requests"]) == (1, 1)


@pytest.mark.parametrize(("service", "after"), [("erp", "cancelled"), ("payment", True), ("inventory", "released")])
async def test_a_fence_undoes_exactly_the_request_with_its_key(service, after, make_client: ClientFactory):
    client = make_client(service)
    path, body = CREATIONS[service]
    ours = await client.post(path, json=body("order-1"), headers={"Idempotency-Key": "ours"})
    theirs = await client.post(path, json=body("order-2"), headers={"Idempotency-Key": "theirs"})
    assert ours.status_code == theirs.status_code == 201

    fence = await _fence(client, "ours")

    assert fence.status_code == 201 and fence.json()["undone"] is True and fence.json()["request_found"] is True
    by_order = {r["order_id"]: r for r in await _records_of(service, client)}
    field = "refunded" if service == "payment" else "status"
    assert by_order["order-1"][field] == after
    assert by_order["order-2"][field] != after  # another request's record is never touched
    # The key is dead: a retry of the original request no longer replays its (stale) success.
    retry = await client.post(path, json=body("order-1"), headers={"Idempotency-Key": "ours"})
    assert retry.status_code == 409 and error_code(retry) == "request_fenced"


async def test_fencing_again_answers_what_the_first_fence_undid(make_client: ClientFactory):
    client = make_client("payment")
    charge = await client.post("/charges", json=charge_body(), headers={"Idempotency-Key": "k"})
    first = await _fence(client, "k")

    again = await _fence(client, "k")

    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["detail"].startswith(f"refunded {charge.json()['id']}")
    [record] = await _records_of("payment", client)
    assert record["amount_refunded"] == record["amount"]  # refunded once, not twice


async def test_fencing_a_declined_charge_refunds_nothing(make_client: ClientFactory):
    client = make_client("payment")
    declined = await client.post(
        "/charges", json=charge_body(payment_token="tok_chargeDeclined"), headers={"Idempotency-Key": "k"}
    )
    assert declined.status_code == 402

    fence = await _fence(client, "k")

    assert fence.json()["undone"] is False and "card_declined" in fence.json()["detail"]
    assert (await client.get("/refunds")).json()["refunds"] == []


async def test_a_confirmation_is_fenced_without_being_undone_and_never_replayed_again(make_client: ClientFactory):
    # A run reset to before its order's compensation must not be told its confirmation succeeded: the compensation
    # fences the confirmation's key too, and the ERP order is undone by the fence of its creation's key.
    client = make_client("erp")
    await client.post("/orders", json=order_body("order-1"), headers={"Idempotency-Key": "create"})
    await client.post("/orders/order-1/confirm", headers={"Idempotency-Key": "confirm"})

    fence = await _fence(client, "confirm")

    assert fence.status_code == 201
    assert (fence.json()["request_found"], fence.json()["undone"]) == (True, False)
    assert "nothing to undo" in fence.json()["detail"]
    assert (await client.get("/orders/order-1")).json()["status"] == "confirmed"
    again = await client.post("/orders/order-1/confirm", headers={"Idempotency-Key": "confirm"})
    assert again.status_code == 409 and error_code(again) == "request_fenced"
    assert (await _fence(client, "create")).json()["undone"] is True
    assert (await client.get("/orders/order-1")).json()["status"] == "cancelled"


@pytest.mark.parametrize("body", [{}, {"key": ""}, {"key": "k", "extra": 1}, {"key": 5}])
async def test_a_malformed_fence_is_a_422(body, make_client: ClientFactory):
    response = await make_client("inventory").post("/fences", json=body)
    assert response.status_code == 422 and error_code(response) == "validation_error"
