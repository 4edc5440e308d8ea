"""Which SKUs the inventory stocks: the check both doors make before an order starts (the Order API's 422, the CLI's
`order place`), so that an order with an unknown SKU is refused, naming the line, before anything is charged.

A courtesy, not the safety net: the workflow itself refuses unknown SKUs at the reservation step (and compensates).
So when the inventory cannot be asked, the check says why and lets the order go on.

The inventory is asked through `ServiceClient`, like every other call to it: its auth, its deadline and its error
classification, not a second HTTP path of its own.

One cache policy, whichever door asks: a catalogue is read at most once every `CACHE_S` seconds, and a failed read
keeps the last one read (or none) and is tried again at the next check. Asking the inventory on every order would add
a round trip to each; a SKU that appears a few seconds late is harmless (see above); and an inventory that is briefly
away neither refuses good orders nor holds the door. A long-lived door (the API) keeps one `SkuCatalogue`, read at
start-up so its document states the SKUs from the first request; a CLI command makes one and reads it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from temporalio.exceptions import ApplicationError

from activities.http import HTTP_TIMEOUT, ServiceClient
from cadenza.settings import ServiceEndpoint, service_endpoint
from workflows.models import Order

CACHE_S = 30.0


@dataclass(frozen=True)
class UnknownSku:
    """An order line whose SKU the inventory does not stock."""

    line: int
    sku: str

    @property
    def field(self) -> str:
        return f"lines.{self.line}.sku"

    @property
    def message(self) -> str:
        return f"unknown SKU {self.sku!r}"


@dataclass(frozen=True)
class SkuCheck:
    """The outcome of one check: the unknown lines, the catalogue they were judged by (None: not known, so nothing
    was refused), and why the inventory could not be asked this time (None: it answered, or the catalogue was fresh)."""

    unknown: list[UnknownSku]
    known: frozenset[str] | None
    unavailable: str | None = None


class SkuCatalogue:
    def __init__(self, inventory: ServiceClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._inventory = inventory
        self._clock = clock
        self._known: frozenset[str] | None = None
        self._fetched_at = 0.0

    async def load(self) -> str | None:
        """Read the catalogue now; returns why it could not be read (None: it was)."""
        return await self._refresh()

    def known(self) -> frozenset[str] | None:
        """The SKUs as last read, without asking the inventory; None while they are not known."""
        return self._known

    async def check(self, order: Order) -> SkuCheck:
        """The lines of `order` whose SKU the inventory does not stock; none when the catalogue is not known."""
        unavailable = None
        if self._known is None or self._clock() - self._fetched_at > CACHE_S:
            unavailable = await self._refresh()
        known = self._known
        unknown = (
            []
            if known is None
            else [UnknownSku(line=i, sku=line.sku) for i, line in enumerate(order.lines) if line.sku not in known]
        )
        return SkuCheck(unknown=unknown, known=known, unavailable=unavailable)

    async def _refresh(self) -> str | None:
        try:
            stock = await self._inventory.get_json("/stock")
        except ApplicationError as err:  # ServiceClient's classified failure: unreachable, timed out, non-2xx
            return str(err)
        self._known = frozenset(row["sku"] for row in stock["stock"])
        self._fetched_at = self._clock()
        return None


async def check_once(order: Order, inventory: ServiceEndpoint | None = None) -> SkuCheck:
    """One check with a catalogue of its own (a CLI command's): reads the inventory once."""
    endpoint = inventory or service_endpoint("inventory")
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        return await SkuCatalogue(ServiceClient(http, endpoint)).check(order)
