"""The SKU check both doors make (clients/catalogue.py): through ServiceClient, with one cache policy."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from activities.http import ServiceClient
from cadenza.settings import ServiceEndpoint
from clients.catalogue import CACHE_S, SkuCatalogue
from workflows.models import Order, OrderLine

ORDER = Order.model_validate(json.loads((Path(__file__).resolve().parents[2] / "examples/order.json").read_text()))
INVENTORY = ServiceEndpoint(name="inventory", base_url="http://inventory.test", token="t0ken")


class Inventory:
    """A /stock that answers what it is told, counting the calls and the credentials they carry."""

    def __init__(self) -> None:
        self.skus = ["SKU-BOOK", "SKU-MUG"]
        self.status = 200
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"code": "unavailable", "message": "down"}})
        return httpx.Response(200, json={"stock": [{"sku": sku} for sku in self.skus]})


def _catalogue(inventory: Inventory, now: list[float]) -> SkuCatalogue:
    http = httpx.AsyncClient(transport=httpx.MockTransport(inventory))
    return SkuCatalogue(ServiceClient(http, INVENTORY), clock=lambda: now[0])


def _with_sku(sku: str) -> Order:
    return ORDER.model_copy(update={"lines": [*ORDER.lines, OrderLine(sku=sku, quantity=1, unit_price=100)]})


async def test_unknown_lines_are_named_and_the_inventory_is_asked_with_its_credentials():
    inventory, now = Inventory(), [0.0]
    check = await _catalogue(inventory, now).check(_with_sku("SKU-NOPE"))
    assert [(u.field, u.message) for u in check.unknown] == [("lines.2.sku", "unknown SKU 'SKU-NOPE'")]
    assert check.known == {"SKU-BOOK", "SKU-MUG"} and check.unavailable is None
    assert inventory.calls[0].headers["Authorization"] == "Bearer t0ken"


async def test_the_catalogue_is_read_at_most_once_per_cache_period():
    inventory, now = Inventory(), [0.0]
    catalogue = _catalogue(inventory, now)
    assert (await catalogue.check(ORDER)).unknown == []
    inventory.skus.append("SKU-NEW")
    now[0] += CACHE_S / 2
    assert [u.sku for u in (await catalogue.check(_with_sku("SKU-NEW"))).unknown] == ["SKU-NEW"]  # not read again
    now[0] += CACHE_S
    assert (await catalogue.check(_with_sku("SKU-NEW"))).unknown == []
    assert len(inventory.calls) == 2


async def test_an_inventory_that_cannot_be_asked_refuses_nothing_and_says_why():
    inventory, now = Inventory(), [0.0]
    inventory.status = 503
    catalogue = _catalogue(inventory, now)
    check = await catalogue.check(_with_sku("SKU-NOPE"))
    assert check.unknown == [] and check.known is None
    assert check.unavailable is not None and "inventory answered 503" in check.unavailable


async def test_a_failed_read_keeps_the_last_catalogue_and_is_tried_again_at_the_next_check():
    inventory, now = Inventory(), [0.0]
    catalogue = _catalogue(inventory, now)
    await catalogue.load()
    inventory.status = 503
    now[0] += CACHE_S + 1
    check = await catalogue.check(_with_sku("SKU-NOPE"))
    assert [u.sku for u in check.unknown] == ["SKU-NOPE"] and check.unavailable is not None
    inventory.status = 200
    assert (await catalogue.check(ORDER)).unavailable is None
    assert len(inventory.calls) == 3
