"""The audit's checks (`activities.consistency`) against records the real services wrote: what a partial refund and a
reserved counter that disagrees with the held reservations look like to `cadenza audit`."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from activities.consistency import inconsistencies, stock_inconsistencies
from activities.records import ServiceRecords
from cadenza.settings import ServiceEndpoint
from tests.services.service_helpers import AUTH, SERVICE_FACTORIES, TOKEN, charge_body, order_body, reservation_body
from workflows.models import OrderState

TOTAL = charge_body()["amount"]


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ServiceRecords]]:
    """One client reaching the three services in-process at http://<name>, and the audit's reader over them."""
    mounts = {
        f"http://{name}": httpx.ASGITransport(app=factory(tmp_path / f"{name}.db", TOKEN))
        for name, factory in SERVICE_FACTORIES.items()
    }
    async with httpx.AsyncClient(mounts=mounts, headers=AUTH) as http:
        endpoints = {name: ServiceEndpoint(name, f"http://{name}", TOKEN) for name in SERVICE_FACTORIES}
        yield http, ServiceRecords(http, endpoints)


async def _completed_order(http: httpx.AsyncClient, order_id: str) -> tuple[str, str]:
    """What a completed order leaves behind: ERP order confirmed, one charge, one committed reservation."""
    assert (await http.post("http://erp/orders", json=order_body(order_id))).status_code == 201
    assert (await http.post(f"http://erp/orders/{order_id}/confirm")).status_code == 200
    charge = (await http.post("http://payment/charges", json=charge_body(order_id))).json()
    reservation = (await http.post("http://inventory/reservations", json=reservation_body(order_id))).json()
    assert (await http.post(f"http://inventory/reservations/{reservation['id']}/commit")).status_code == 200
    return charge["id"], reservation["id"]


async def test_a_partial_refund_of_a_completed_order_is_an_inconsistency(services):
    http, records = services
    charge_id, _ = await _completed_order(http, "order-1")
    assert inconsistencies(OrderState.COMPLETED, TOTAL, await records.for_order("order-1")) == []

    refund = await http.post(f"http://payment/charges/{charge_id}/refunds", json={"amount": 100})
    assert refund.status_code == 201

    problems = inconsistencies(OrderState.COMPLETED, TOTAL, await records.for_order("order-1"))
    assert problems == [f"charge {charge_id} keeps {TOTAL - 100} ({TOTAL} charged, 100 refunded), expected {TOTAL}"]


async def test_reserved_stock_must_equal_what_held_reservations_set_aside(services, tmp_path: Path):
    http, records = services
    await _completed_order(http, "order-1")  # committed: shipped, reserves nothing any more
    held = await http.post("http://inventory/reservations", json=reservation_body("order-2", {"SKU-LAMP": 3}))
    assert held.status_code == 201
    assert stock_inconsistencies(await records.stock(), await records.all_reservations()) == []

    # A counter that drifted from the reservations (what a release or commit that forgot to update it would leave):
    # on hand is still right, so only the reserved check can see it.
    with sqlite3.connect(tmp_path / "inventory.db") as database:
        database.execute("UPDATE stock SET reserved = reserved - 1 WHERE sku = 'SKU-LAMP'")
        database.execute("UPDATE stock SET reserved = reserved + 2 WHERE sku = 'SKU-BOOK'")

    assert stock_inconsistencies(await records.stock(), await records.all_reservations()) == [
        "reserved stock of SKU-BOOK is 2, but held reservations set aside 0",
        "reserved stock of SKU-LAMP is 2, but held reservations set aside 3",
    ]


async def test_an_order_awaiting_review_is_consistent_until_something_is_charged_for_it(services):
    http, records = services
    assert (await http.post("http://erp/orders", json=order_body("order-3"))).status_code == 201
    assert inconsistencies(OrderState.AWAITING_REVIEW, TOTAL, await records.for_order("order-3")) == []

    assert (await http.post("http://payment/charges", json=charge_body("order-3"))).status_code == 201
    [problem] = inconsistencies(OrderState.AWAITING_REVIEW, TOTAL, await records.for_order("order-3"))
    assert problem.startswith("charged (") and problem.endswith("before the review decided")
