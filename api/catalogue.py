"""Which SKUs the inventory stocks, for refusing an order with an unknown one before anything starts (as the CLI
does). Cached for a short while: asking the inventory on every order would add a round trip to each, and a SKU
that appears a few seconds late is harmless — the workflow itself refuses unknown SKUs at the reservation step."""

from __future__ import annotations

import logging
import time

import httpx

from api.problems import InvalidField
from cadenza.settings import ServiceEndpoint
from workflows.models import Order

_log = logging.getLogger("cadenza.api")
CACHE_S = 30.0


class SkuCatalogue:
    def __init__(self, inventory: ServiceEndpoint, http: httpx.AsyncClient) -> None:
        self._inventory = inventory
        self._http = http
        self._known: frozenset[str] | None = None
        self._fetched_at = 0.0

    async def load(self) -> None:
        """Read the catalogue now (at start-up), so the API's document states the SKUs before the first order."""
        await self._skus()

    def known(self) -> frozenset[str] | None:
        """The SKUs as last read, without asking the inventory; None while they are not known."""
        return self._known

    async def unknown_skus(self, order: Order) -> list[InvalidField]:
        """The lines whose SKU the inventory does not stock; none when the inventory cannot be asked."""
        known = await self._skus()
        if known is None:
            return []
        return [
            InvalidField(field=f"lines.{i}.sku", message=f"unknown SKU {line.sku!r} (known: {', '.join(sorted(known))})")
            for i, line in enumerate(order.lines)
            if line.sku not in known
        ]

    async def _skus(self) -> frozenset[str] | None:
        if self._known is None or time.monotonic() - self._fetched_at > CACHE_S:
            try:
                response = await self._http.get(f"{self._inventory.base_url}/stock", headers=self._inventory.auth_headers)
                response.raise_for_status()
            except httpx.HTTPError as err:
                _log.warning("could not check SKUs against the inventory (%s); the workflow will", err)
                return self._known
            self._known = frozenset(row["sku"] for row in response.json()["stock"])
            self._fetched_at = time.monotonic()
        return self._known
