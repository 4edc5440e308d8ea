"""The benchmark's orders, and placing one through Temporal the way `cadenza order place --wait` does."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from cadenza.errors import CadenzaError
from clients.orders import order_result, place_order
from starters.demo import SAMPLE_CONTACT
from workflows.models import Order, OrderLine, OrderState

# An order function: fulfils one order end to end and returns only once it is done; raises if it did not complete.
Fulfil = Callable[[Order], Awaitable[None]]

# Seeded with 1,000,000 units each (services/inventory/tables.py) and paid with a card that is always accepted: every
# benchmark order takes the happy path, so every profile makes exactly the same five calls per order.
IN_STOCK_SKUS = ("SKU-BOOK", "SKU-MUG")
GOOD_CARD = "tok_visa"


class BenchOrderFailed(CadenzaError, RuntimeError):
    """A benchmark order did not complete: the figures would be meaningless."""


@dataclass
class OrderSource:
    """Numbered orders `bench-<run>-<n>`, unique within a run across all phases of a profile."""

    run_id: str
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next(self) -> Order:
        return Order(
            order_id=f"bench-{self.run_id}-{next(self._numbers)}",
            customer_id="bench",
            currency="EUR",
            payment_token=GOOD_CARD,
            lines=[OrderLine(sku=sku, quantity=1, unit_price=1000) for sku in IN_STOCK_SKUS],
            **SAMPLE_CONTACT,
        )

    def take(self, count: int) -> list[Order]:
        return [self.next() for _ in range(count)]


def temporal_fulfil(client: Client, task_queue: str, *, eager_start: bool) -> Fulfil:
    """Start the order's workflow and wait for its result, as a user's `cadenza order place --wait` would."""

    async def fulfil(order: Order) -> None:
        placed = await place_order(client, order, task_queue=task_queue, eager_start=eager_start)
        result = await order_result(placed.handle)
        if result.state != OrderState.COMPLETED:
            raise BenchOrderFailed(f"order {order.order_id} ended {result.state}: {result.reason}")

    return fulfil
