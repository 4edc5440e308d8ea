"""Reading what the downstream services themselves recorded for an order — the ground truth every check uses."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cadenza.settings import ServiceEndpoint, service_endpoints


@dataclass(frozen=True)
class OrderRecords:
    order_id: str
    erp_order: dict[str, Any] | None
    charges: list[dict[str, Any]]
    reservations: list[dict[str, Any]]

    @property
    def succeeded_charges(self) -> list[dict[str, Any]]:
        return [c for c in self.charges if c["status"] == "succeeded"]

    @property
    def live_charges(self) -> list[dict[str, Any]]:
        """Charges that took money and were not (fully) refunded."""
        return [c for c in self.succeeded_charges if not c["refunded"]]

    def reservations_in(self, *statuses: str) -> list[dict[str, Any]]:
        return [r for r in self.reservations if r["status"] in statuses]


# Each travel service's collection, listed by trip (`?trip_id=`).
TRIP_COLLECTIONS = {"flight": "bookings", "hotel": "stays", "car": "rentals"}


@dataclass(frozen=True)
class TripRecords:
    """What the flight, hotel and car services recorded for one trip (the travel example saga)."""

    trip_id: str
    by_service: dict[str, list[dict[str, Any]]]

    def statuses(self, service: str) -> list[str]:
        return [item["status"] for item in self.by_service.get(service, [])]


class ServiceRecords:
    """Read-only client of the services' own records (the order services; the travel ones when given their
    endpoints)."""

    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint] | None = None) -> None:
        self._http = http
        self._endpoints = endpoints or service_endpoints()

    async def _get(self, service: str, path: str, **params: str) -> httpx.Response:
        endpoint = self._endpoints[service]
        return await self._http.get(endpoint.base_url + path, params=params, headers=endpoint.auth_headers)

    async def _json(self, service: str, path: str, **params: str) -> dict[str, Any]:
        response = await self._get(service, path, **params)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def for_order(self, order_id: str) -> OrderRecords:
        erp = await self._get("erp", f"/orders/{order_id}")
        if erp.status_code not in (200, 404):
            erp.raise_for_status()
        return OrderRecords(
            order_id=order_id,
            erp_order=erp.json() if erp.status_code == 200 else None,
            charges=(await self._json("payment", "/charges", order_id=order_id))["charges"],
            reservations=(await self._json("inventory", "/reservations", order_id=order_id))["reservations"],
        )

    async def for_trip(self, trip_id: str) -> TripRecords:
        return TripRecords(
            trip_id,
            {
                service: (await self._json(service, f"/{collection}", trip_id=trip_id))[collection]
                for service, collection in TRIP_COLLECTIONS.items()
            },
        )

    async def stock(self) -> dict[str, dict[str, Any]]:
        return {row["sku"]: row for row in (await self._json("inventory", "/stock"))["stock"]}

    async def _all(self, service: str, path: str, key: str, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every item of a paged listing."""
        items: list[dict[str, Any]] = []
        while True:
            page = (await self._json(service, path, limit=str(page_size), offset=str(len(items))))[key]
            items += page
            if len(page) < page_size:
                return items

    async def all_reservations(self) -> list[dict[str, Any]]:
        return await self._all("inventory", "/reservations", "reservations")

    async def everything(self) -> dict[str, OrderRecords]:
        """Every order any service knows of, with all its records: what an audit reconciles."""
        erp_orders = await self._all("erp", "/orders", "orders")
        charges = await self._all("payment", "/charges", "charges")
        reservations = await self._all("inventory", "/reservations", "reservations")
        erp_by_order = {o["order_id"]: o for o in erp_orders}
        charges_by_order, reservations_by_order = _group(charges), _group(reservations)
        order_ids = erp_by_order.keys() | charges_by_order.keys() | reservations_by_order.keys()
        return {
            order_id: OrderRecords(
                order_id=order_id,
                erp_order=erp_by_order.get(order_id),
                charges=charges_by_order.get(order_id, []),
                reservations=reservations_by_order.get(order_id, []),
            )
            for order_id in order_ids
        }


def _group(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        grouped[item["order_id"]].append(item)
    return grouped
