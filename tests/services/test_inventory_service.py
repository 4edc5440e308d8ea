"""The inventory: seeded stock, all-or-nothing reservations, commit and release."""

from __future__ import annotations

import httpx
import pytest

from tests.services.service_helpers import ClientFactory, error_code, key, reservation_body

SEEDED = {
    "SKU-BOOK": 1_000_000,
    "SKU-MUG": 1_000_000,
    "SKU-TSHIRT": 1_000_000,
    "SKU-POSTER": 1_000_000,
    "SKU-LAMP": 1_000_000,
    "SKU-OOS": 0,
}


async def stock_of(client: httpx.AsyncClient) -> dict[str, dict[str, int]]:
    return {level["sku"]: level for level in (await client.get("/stock")).json()["stock"]}


async def reserve(client: httpx.AsyncClient, order_id: str = "order-1", lines: dict[str, int] | None = None) -> str:
    response = await client.post("/reservations", json=reservation_body(order_id, lines))
    assert response.status_code == 201, response.text
    reservation_id: str = response.json()["id"]
    return reservation_id


async def test_stock_is_seeded(inventory_client: httpx.AsyncClient) -> None:
    stock = await stock_of(inventory_client)

    assert {sku: level["on_hand"] for sku, level in stock.items()} == SEEDED
    for sku, level in stock.items():
        assert level == {
            "sku": sku,
            "on_hand": SEEDED[sku],
            "reserved": 0,
            "available": SEEDED[sku],
            "seed_quantity": SEEDED[sku],
        }
    assert (await inventory_client.get("/stock/SKU-MUG")).json() == stock["SKU-MUG"]


async def test_unknown_sku_stock_is_404(inventory_client: httpx.AsyncClient) -> None:
    response = await inventory_client.get("/stock/SKU-NOPE")

    assert response.status_code == 404
    assert error_code(response) == "sku_not_found"


async def test_reservation_holds_stock(inventory_client: httpx.AsyncClient) -> None:
    response = await inventory_client.post(
        "/reservations", json=reservation_body("order-1", {"SKU-BOOK": 2, "SKU-MUG": 1})
    )

    assert response.status_code == 201
    reservation = response.json()
    assert reservation["id"].startswith("res_")
    assert reservation["order_id"] == "order-1"
    assert reservation["status"] == "held"
    assert reservation["lines"] == [{"sku": "SKU-BOOK", "quantity": 2}, {"sku": "SKU-MUG", "quantity": 1}]
    book = (await stock_of(inventory_client))["SKU-BOOK"]
    assert (book["on_hand"], book["reserved"], book["available"]) == (1_000_000, 2, 999_998)
    assert (await inventory_client.get(f"/reservations/{reservation['id']}")).json() == reservation
    listed = (await inventory_client.get("/reservations", params={"order_id": "order-1"})).json()["reservations"]
    assert listed == [reservation]


@pytest.mark.parametrize(
    ("lines", "sku", "available"),
    [({"SKU-BOOK": 1, "SKU-OOS": 1}, "SKU-OOS", 0), ({"SKU-MUG": 1, "SKU-LAMP": 1_000_001}, "SKU-LAMP", 1_000_000)],
)
async def test_out_of_stock_reserves_nothing(
    lines: dict[str, int], sku: str, available: int, inventory_client: httpx.AsyncClient
) -> None:
    before = await stock_of(inventory_client)

    response = await inventory_client.post("/reservations", json=reservation_body("order-1", lines))

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "out_of_stock"
    assert (error["sku"], error["requested"], error["available"]) == (sku, lines[sku], available)
    assert await stock_of(inventory_client) == before
    assert (await inventory_client.get("/reservations")).json()["reservations"] == []


async def test_unknown_sku_reservation_is_422_naming_it(inventory_client: httpx.AsyncClient) -> None:
    before = await stock_of(inventory_client)

    response = await inventory_client.post(
        "/reservations", json=reservation_body("order-1", {"SKU-BOOK": 1, "SKU-GHOST": 1})
    )

    assert response.status_code == 422
    assert error_code(response) == "unknown_sku"
    assert response.json()["error"]["sku"] == "SKU-GHOST"
    assert "SKU-GHOST" in response.json()["error"]["message"]
    assert await stock_of(inventory_client) == before


async def test_duplicate_skus_are_a_validation_error(inventory_client: httpx.AsyncClient) -> None:
    body = {"order_id": "order-1", "lines": [{"sku": "SKU-BOOK", "quantity": 1}, {"sku": "SKU-BOOK", "quantity": 2}]}

    response = await inventory_client.post("/reservations", json=body)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert "SKU-BOOK" in response.json()["error"]["message"]


async def test_second_reservation_for_an_order_is_409(inventory_client: httpx.AsyncClient) -> None:
    first = await reserve(inventory_client, "order-1")

    response = await inventory_client.post("/reservations", json=reservation_body("order-1"), headers=key("another"))

    assert response.status_code == 409
    assert error_code(response) == "reservation_exists"
    assert response.json()["error"]["reservation_id"] == first
    assert (await stock_of(inventory_client))["SKU-BOOK"]["reserved"] == 2


async def test_commit_ships_the_goods_and_is_repeatable(inventory_client: httpx.AsyncClient) -> None:
    reservation_id = await reserve(inventory_client, lines={"SKU-BOOK": 3})

    first = await inventory_client.post(f"/reservations/{reservation_id}/commit")
    second = await inventory_client.post(f"/reservations/{reservation_id}/commit")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "committed"
    book = (await stock_of(inventory_client))["SKU-BOOK"]
    assert (book["on_hand"], book["reserved"], book["available"]) == (999_997, 0, 999_997)
    assert book["on_hand"] == book["seed_quantity"] - 3


@pytest.mark.parametrize("commit_first", [False, True], ids=["from-held", "from-committed"])
async def test_release_restores_stock(commit_first: bool, inventory_client: httpx.AsyncClient) -> None:
    before = await stock_of(inventory_client)
    reservation_id = await reserve(inventory_client, lines={"SKU-BOOK": 5, "SKU-LAMP": 1})
    if commit_first:
        await inventory_client.post(f"/reservations/{reservation_id}/commit")

    first = await inventory_client.post(f"/reservations/{reservation_id}/release")
    second = await inventory_client.post(f"/reservations/{reservation_id}/release")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "released"
    assert await stock_of(inventory_client) == before


async def test_released_reservation_cannot_be_committed_and_order_may_reserve_again(
    inventory_client: httpx.AsyncClient,
) -> None:
    reservation_id = await reserve(inventory_client, "order-1")
    await inventory_client.post(f"/reservations/{reservation_id}/release")

    commit = await inventory_client.post(f"/reservations/{reservation_id}/commit")
    again = await inventory_client.post("/reservations", json=reservation_body("order-1"))

    assert commit.status_code == 409
    assert error_code(commit) == "invalid_state"
    assert again.status_code == 201
    statuses = [
        r["status"]
        for r in (await inventory_client.get("/reservations", params={"order_id": "order-1"})).json()["reservations"]
    ]
    assert statuses == ["released", "held"]


async def test_unknown_reservation_is_404(inventory_client: httpx.AsyncClient) -> None:
    responses = [
        await inventory_client.get("/reservations/res_nope"),
        await inventory_client.post("/reservations/res_nope/commit"),
        await inventory_client.post("/reservations/res_nope/release"),
    ]

    for response in responses:
        assert response.status_code == 404
        assert error_code(response) == "reservation_not_found"


async def test_seed_runs_only_on_first_creation(make_client: ClientFactory) -> None:
    first = make_client("inventory", db="warehouse")
    reservation_id = await reserve(first, lines={"SKU-BOOK": 7})
    await first.post(f"/reservations/{reservation_id}/commit")

    restarted = make_client("inventory", db="warehouse")

    assert (await stock_of(restarted))["SKU-BOOK"]["on_hand"] == 1_000_000 - 7
