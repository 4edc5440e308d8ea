"""The ERP: order creation, reads and the pending -> confirmed -> cancelled lifecycle."""

from __future__ import annotations

import httpx
import pytest

from tests.services.service_helpers import ClientFactory, error_code, key, order_body


async def test_create_order_records_a_pending_order(erp_client: httpx.AsyncClient) -> None:
    response = await erp_client.post("/orders", json=order_body("order-1"))

    assert response.status_code == 201
    order = response.json()
    assert order["order_id"] == "order-1"
    assert order["status"] == "pending"
    assert order["customer_id"] == "cust-1"
    assert order["currency"] == "EUR"
    assert order["total_amount"] == 2500
    assert order["lines"] == order_body()["lines"]
    assert order["created_at"] == order["updated_at"]
    assert order["created_at"].endswith("Z")
    assert (await erp_client.get("/orders/order-1")).json() == order


async def test_list_orders_is_oldest_first_and_paged(erp_client: httpx.AsyncClient) -> None:
    for number in range(3):
        await erp_client.post("/orders", json=order_body(f"order-{number}"))

    everything = (await erp_client.get("/orders")).json()["orders"]
    second_page = (await erp_client.get("/orders", params={"limit": 2, "offset": 2})).json()["orders"]

    assert [order["order_id"] for order in everything] == ["order-0", "order-1", "order-2"]
    assert [order["order_id"] for order in second_page] == ["order-2"]


async def test_reusing_an_order_id_is_409_order_exists(erp_client: httpx.AsyncClient) -> None:
    await erp_client.post("/orders", json=order_body("order-1"), headers=key("first"))

    without_key = await erp_client.post("/orders", json=order_body("order-1"))
    other_key = await erp_client.post("/orders", json=order_body("order-1"), headers=key("second"))

    for response in (without_key, other_key):
        assert response.status_code == 409
        assert error_code(response) == "order_exists"
    assert len((await erp_client.get("/orders")).json()["orders"]) == 1


async def test_unknown_order_is_404_everywhere(erp_client: httpx.AsyncClient) -> None:
    responses = [
        await erp_client.get("/orders/nope"),
        await erp_client.post("/orders/nope/confirm"),
        await erp_client.post("/orders/nope/cancel"),
    ]

    for response in responses:
        assert response.status_code == 404
        assert error_code(response) == "order_not_found"


async def test_confirm_then_confirm_again_is_a_no_op(erp_client: httpx.AsyncClient) -> None:
    await erp_client.post("/orders", json=order_body("order-1"))

    first = await erp_client.post("/orders/order-1/confirm")
    second = await erp_client.post("/orders/order-1/confirm")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "confirmed"
    assert second.json() == first.json()


@pytest.mark.parametrize("confirm_first", [False, True], ids=["from-pending", "from-confirmed"])
async def test_cancel_is_allowed_and_repeatable(confirm_first: bool, erp_client: httpx.AsyncClient) -> None:
    await erp_client.post("/orders", json=order_body("order-1"))
    if confirm_first:
        await erp_client.post("/orders/order-1/confirm")

    first = await erp_client.post("/orders/order-1/cancel")
    second = await erp_client.post("/orders/order-1/cancel")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "cancelled"
    assert (await erp_client.get("/orders/order-1")).json()["status"] == "cancelled"


async def test_cancelled_order_cannot_be_confirmed(erp_client: httpx.AsyncClient) -> None:
    await erp_client.post("/orders", json=order_body("order-1"))
    await erp_client.post("/orders/order-1/cancel")

    response = await erp_client.post("/orders/order-1/confirm")

    assert response.status_code == 409
    assert error_code(response) == "invalid_state"
    assert response.json()["error"]["status"] == "cancelled"
    assert (await erp_client.get("/orders/order-1")).json()["status"] == "cancelled"


async def test_orders_survive_a_restart(make_client: ClientFactory) -> None:
    await make_client("erp", db="shared").post("/orders", json=order_body("order-1"))

    restarted = make_client("erp", db="shared")

    assert (await restarted.get("/orders/order-1")).json()["status"] == "pending"


CONTACT = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": {
        "line1": "12 St James's Sq",
        "line2": None,
        "postal_code": "SW1Y 4LB",
        "city": "London",
        "country": "GB",
    },
}


async def test_the_customer_contact_is_stored_and_returned(erp_client: httpx.AsyncClient) -> None:
    created = await erp_client.post("/orders", json=order_body("order-1", **CONTACT))

    assert created.status_code == 201
    stored = (await erp_client.get("/orders/order-1")).json()
    assert {name: stored[name] for name in CONTACT} == CONTACT
    # Optional: an order without them (as the worker sends for orders placed before they existed) is still taken.
    assert (await erp_client.post("/orders", json=order_body("order-2"))).status_code == 201
    assert (await erp_client.get("/orders/order-2")).json()["shipping_address"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_email": "not-an-address"}, "customer_email"),
        ({"customer_name": ""}, "customer_name"),
        ({"shipping_address": {**CONTACT["shipping_address"], "country": "Britain"}}, "country"),
        ({"shipping_address": {"line1": "x"}}, "city"),
    ],
)
async def test_a_bad_contact_is_a_422_naming_the_field(erp_client: httpx.AsyncClient, change, field) -> None:
    response = await erp_client.post("/orders", json=order_body("order-1", **change))

    assert response.status_code == 422
    assert field in response.text
    assert "Extra inputs" not in response.text  # refused by the field's rule, not as a field the ERP does not know


async def test_an_erp_database_from_before_contacts_gains_the_columns(make_client: ClientFactory, tmp_path) -> None:
    import sqlite3

    from services.erp.tables import ADDED_COLUMNS

    make_client("erp", db="erp")
    with sqlite3.connect(tmp_path / "erp.db") as db:  # as a database made before the columns existed
        for column in ADDED_COLUMNS:
            db.execute(f"ALTER TABLE orders DROP COLUMN {column}")
    restarted = make_client("erp", db="erp")

    assert (await restarted.post("/orders", json=order_body("order-1", **CONTACT))).status_code == 201
    assert (await restarted.get("/orders/order-1")).json()["customer_email"] == CONTACT["customer_email"]
