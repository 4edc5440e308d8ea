"""`cadenza load`: place many generated orders with bounded concurrency and report outcomes and latency."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cadenza.settings import settings
from clients.orders import place_order, wait_for_result
from starters.api_client import OrderApi, state_of
from workflows.models import Order, OrderLine

T = TypeVar("T")

IN_STOCK = ("SKU-BOOK", "SKU-MUG", "SKU-TSHIRT", "SKU-POSTER", "SKU-LAMP")
# The mix of a run: mostly good cards, some declines, a few out-of-stock lines.
TOKENS = (("tok_visa", 0.6), ("tok_mastercard", 0.25), ("tok_chargeDeclined", 0.1), ("tok_insufficientFunds", 0.05))
OUT_OF_STOCK_SHARE = 0.08
# How an order of a load run may end: the declined cards and out-of-stock lines of the mix end compensated. Anything
# else (an "error": placing or waiting for it failed; or a state it stopped in, e.g. terminated while running) is a
# failure of the run.
CLOSED_OUTCOMES = frozenset({"completed", "compensated"})


def generate_orders(count: int, seed: int, run_id: str) -> list[Order]:
    """The same `seed` gives the same mix of cards, SKUs and quantities (ids differ per run)."""
    rng = random.Random(seed)
    tokens = [token for token, _ in TOKENS]
    weights = [weight for _, weight in TOKENS]
    orders = []
    for n in range(count):
        skus = rng.sample(IN_STOCK, rng.randint(1, 3))
        if rng.random() < OUT_OF_STOCK_SHARE:
            skus.append("SKU-OOS")
        orders.append(
            Order(
                order_id=f"load-{run_id}-{n:05d}",
                customer_id=f"c-{rng.randint(1, 200)}",
                currency="EUR",
                payment_token=rng.choices(tokens, weights)[0],
                lines=[
                    OrderLine(sku=sku, quantity=rng.randint(1, 3), unit_price=rng.randint(100, 9_999)) for sku in skus
                ],
            )
        )
    return orders


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]


@dataclass
class LoadReport:
    run_id: str
    orders: int
    concurrency: int
    seed: int
    wall_time_s: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def closed(self) -> int:
        """Orders that ended completed or compensated."""
        return sum(count for outcome, count in self.outcomes.items() if outcome in CLOSED_OUTCOMES)

    @property
    def unfinished(self) -> Counter[str]:
        """Orders per outcome that did not end completed or compensated; empty for a run that went as planned."""
        return Counter({outcome: n for outcome, n in self.outcomes.items() if outcome not in CLOSED_OUTCOMES})

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(p) - 1]

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies_ms")
        data["outcomes"] = dict(self.outcomes)
        data["unfinished"] = dict(self.unfinished)
        data["throughput_per_s"] = self.orders / self.wall_time_s if self.wall_time_s else None
        data["latency_ms"] = {f"p{p}": self.percentile(p) for p in (50, 95, 99)}
        return data


# Answers that no retry can change (e.g. querying an order terminated before its first workflow task): retrying them
# would only hold the run's report back by `give_up_after` and hide what happened.
PERMANENT_RPC_ERRORS = frozenset(
    {
        RPCStatusCode.INVALID_ARGUMENT,
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.ALREADY_EXISTS,
        RPCStatusCode.PERMISSION_DENIED,
        RPCStatusCode.UNAUTHENTICATED,
        RPCStatusCode.UNIMPLEMENTED,
        RPCStatusCode.OUT_OF_RANGE,
    }
)


async def retrying(call: Callable[[], Awaitable[T]], *, give_up_after: float = 120.0) -> T:
    """Ride out a Temporal server that is briefly away (restarted during a chaos run); permanent errors raise at
    once."""
    deadline = time.monotonic() + give_up_after
    delay = 0.2
    while True:
        try:
            return await call()
        except RPCError as err:
            if err.status in PERMANENT_RPC_ERRORS or time.monotonic() > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


# How one order of a run is placed and awaited; returns the state it ended in ("completed", "compensated", …). The
# run and its report are the same whichever way orders are placed.
PlaceAndAwait = Callable[[Order], Awaitable[str]]


def via_temporal(client: Client, task_queue: str | None = None) -> PlaceAndAwait:
    queue = task_queue or settings().task_queue
    """Through a Temporal client, as `cadenza order place --wait` does."""

    async def place_and_await(order: Order) -> str:
        placed = await retrying(lambda: place_order(client, order, task_queue=queue))
        return (await retrying(lambda: wait_for_result(placed.handle))).state.value

    return place_and_await


def via_api(api: OrderApi) -> PlaceAndAwait:
    """Over HTTP through the Order API, as a checkout would: `Prefer: wait=60`, then polling until it closed."""

    async def place_and_await(order: Order) -> str:
        return state_of(await api.outcome(order))

    return place_and_await


async def run_orders(
    place_and_await: PlaceAndAwait,
    orders: list[Order],
    *,
    concurrency: int,
    report: LoadReport,
    on_done: Callable[[str], None] = lambda _: None,
) -> LoadReport:
    """Place every order (at most `concurrency` in flight), wait for each outcome, record latency end to end."""
    limit = asyncio.Semaphore(concurrency)

    async def one(order: Order) -> None:
        async with limit:
            started = time.monotonic()
            try:
                outcome = await place_and_await(order)
                report.latencies_ms.append((time.monotonic() - started) * 1000)
            except Exception as err:  # noqa: BLE001 - reported, never hidden: a load run's job is to show what went wrong
                outcome = "error"
                report.errors.append(f"{order.order_id}: {type(err).__name__}: {err}")
            report.outcomes[outcome] += 1
            on_done(outcome)

    began = time.monotonic()
    await asyncio.gather(*(one(order) for order in orders))
    report.wall_time_s = time.monotonic() - began
    return report


async def run_load(
    client: Client,
    orders: list[Order],
    *,
    concurrency: int,
    report: LoadReport,
    on_done: Callable[[str], None] = lambda _: None,
    task_queue: str | None = None,
) -> LoadReport:
    """`run_orders` through a Temporal client (the chaos run's load)."""
    return await run_orders(
        via_temporal(client, task_queue), orders, concurrency=concurrency, report=report, on_done=on_done
    )
