"""A small client of the Order API for Cadenza's own tools: place an order over HTTP and wait for its outcome, as a
checkout would (`cadenza load --via api`, the bench's `api` profile).

Placing is idempotent (the same order id and body answer with the existing order, never a second execution), so a
request that failed on the way — the API restarting, Temporal away (503), the key over its rate (429) — is simply
sent again until `give_up_after`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from cadenza.errors import CadenzaError
from cadenza.settings import api_port
from workflows.models import Order

WAIT_S = 60
"""The longest `Prefer: wait=N` the API honours."""
POLL_INTERVAL_S = 0.2
_TRANSIENT = frozenset({429, 502, 503, 504})
_KEY_HINT = (
    "Create a key with `cadenza api-key create --scope orders:write --scope orders:read` (no --customer: the load "
    "places orders for many customers) and pass it with --api-key or CADENZA_API_KEY."
)

View = Mapping[str, Any]
"""An order as the API shows it (`OrderStatusView`: state, closed, payment, …)."""


class OrderApiError(CadenzaError, RuntimeError):
    """The API cannot take orders from this client; the message says what to do next."""

    next_step = "Nothing was placed."


class ApiUnreachable(OrderApiError):
    pass


class ApiKeyRefused(OrderApiError):
    pass


class OrderRefused(CadenzaError, RuntimeError):
    """The API answered an order with a problem no retry changes (4xx); the message carries its status and detail."""


def _problem(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{response.status_code} {body.get('title', '')}: {body.get('detail') or ''}".strip(": ")
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"


def state_of(view: View) -> str:
    """Cadenza's state of the order, or Temporal's execution status when no worker could be asked."""
    return view.get("state") or str(view.get("execution_status", "unknown")).lower()


@dataclass(frozen=True)
class OrderApi:
    http: httpx.AsyncClient
    """With the API's base URL and the key's Authorization header."""
    give_up_after: float = 120.0

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str, key: str) -> AsyncIterator[OrderApi]:
        # No connection limit: N orders in flight are N requests held open by `Prefer: wait`, as N checkouts would
        # hold them; a pool of fewer would queue orders in this client and the figures would measure the queue.
        async with httpx.AsyncClient(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=httpx.Timeout(WAIT_S + 15, pool=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
        ) as http:
            yield cls(http)

    @property
    def url(self) -> str:
        return str(self.http.base_url)

    async def check(self) -> None:
        """Fail fast, before anything is placed: the API answers and the key may place (orders:write) and read
        (orders:read, to follow an order that outlasts the wait) orders."""
        try:
            health = await self.http.get("/healthz")
        except httpx.TransportError as err:
            raise ApiUnreachable(
                f"Cannot reach the Order API at {self.url} ({type(err).__name__}). Start it with `cadenza up` (it "
                f"serves the API on port {api_port() or 8100}, CADENZA_API_PORT) or `cadenza api`, or pass --api-url."
            ) from None
        if health.status_code != 200:
            raise ApiUnreachable(
                f"{self.url}/healthz answered {health.status_code}: is this the Order API? Pass its URL with --api-url."
            )
        # The key is checked before the body: an empty order is refused for its key (401/403) or, with a key that may
        # place orders, for its body (422). Nothing is placed either way.
        for response in (await self.http.post("/orders", json={}), await self.http.get("/orders/x-key-check")):
            if response.status_code in (401, 403):
                raise ApiKeyRefused(f"The Order API refused the key ({_problem(response)}). {_KEY_HINT}")

    async def place(self, order: Order, prefer: str) -> httpx.Response:
        return await self._send("POST", "/orders", json=order.model_dump(mode="json"), headers={"Prefer": prefer})

    async def outcome(self, order: Order) -> View:
        """Place the order (or find it placed) and return it closed: one request while it closes within the API's
        longest wait, then `GET /orders/{id}` until it has."""
        response = await self.place(order, f"wait={WAIT_S}")
        view = self._accepted(response)
        while not view["closed"]:
            await asyncio.sleep(POLL_INTERVAL_S)
            view = self._accepted(await self._send("GET", f"/orders/{order.order_id}"))
        return view

    async def payment_decision(self, order: Order) -> View:
        """Place the order and return as soon as its payment is decided (`Prefer: wait=payment`); fulfilment goes on."""
        view = self._accepted(await self.place(order, "wait=payment"))
        if view.get("payment") is None:
            raise OrderRefused(f"order {order.order_id}: the API answered without a payment decision: {dict(view)}")
        return view

    def _accepted(self, response: httpx.Response) -> View:
        if response.status_code in (401, 403):
            raise ApiKeyRefused(f"The Order API refused the key ({_problem(response)}). {_KEY_HINT}")
        if response.status_code not in (200, 202):
            raise OrderRefused(_problem(response))
        return response.json()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, sent again while the API or Temporal is briefly away or the key is over its rate."""
        deadline = time.monotonic() + self.give_up_after
        delay = 0.2
        while True:
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TransportError as err:
                if time.monotonic() > deadline:
                    raise ApiUnreachable(
                        f"The Order API at {self.url} did not answer for {self.give_up_after:.0f} s "
                        f"({type(err).__name__}). Check that it is running (`cadenza up`)."
                    ) from err
                pause = delay
            else:
                if response.status_code not in _TRANSIENT or time.monotonic() > deadline:
                    return response
                pause = _retry_after(response) or delay
            await asyncio.sleep(pause)
            delay = min(delay * 2, 5.0)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
