"""Reading what the downstream services themselves recorded for an order — the ground truth every check uses."""

from __future__ import annotations

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


class ServiceRecords:
    """Read-only client of the three services' own records."""

    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint] | None = None) -> None:
        self._http = http
        self._endpoints = endpoints or service_endpoints()

    async def _get(self, service: str, path: str, **params: str) -> httpx.Response:
        endpoint = self._endpoints[service]
        return await self._http.get(
            endpoint.base_url + path, params=params, headers={"Authorization": f"Bearer {endpoint.token}"}
        )

    async def _json(self, service: str, path: str, **params: str) -> dict[str, Any]:
        response = await self._get(service, path, **params)
        response.raise_for_status()
        return response.json()

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

    async def stock(self) -> dict[str, dict[str, Any]]:
        return {row["sku"]: row for row in (await self._json("inventory", "/stock"))["stock"]}

    async def all_reservations(self, page_size: int = 1000) -> list[dict[str, Any]]:
        reservations: list[dict[str, Any]] = []
        while True:
            page = await self._json("inventory", "/reservations", limit=str(page_size), offset=str(len(reservations)))
            reservations += page["reservations"]
            if len(page["reservations"]) < page_size:
                return reservations
