"""Which orders a chaos run places: the load's seeded mix, with a share repriced into large orders (risk-checked and
let through) and orders the risk rules refer to a person, plus what the run's reviewer decides for each of those."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from activities.risk import REVIEW_LIMIT
from starters.chaos.plan import ChaosPlan
from starters.load import generate_orders
from workflows.models import RISK_CHECK_THRESHOLD, Order, OrderLine, ReviewVerdict


class OrderKind(StrEnum):
    SMALL = "small"
    """Below the risk check."""
    LARGE = "large"
    """Risk-checked, and let through."""
    REVIEW = "review"
    """Referred to manual review by the risk rules."""


def kind_of(order: Order) -> OrderKind:
    """Told by the risk rules' own limits, so a change of limit shows in the run's figures rather than hiding."""
    if order.total_amount < RISK_CHECK_THRESHOLD:
        return OrderKind.SMALL
    return OrderKind.REVIEW if order.total_amount > REVIEW_LIMIT else OrderKind.LARGE


# Totals drawn for each repriced kind, in minor units: clear of the limits, whatever rounding adds.
_TOTALS = {
    OrderKind.LARGE: (RISK_CHECK_THRESHOLD + 1_000, REVIEW_LIMIT - 1_000),
    OrderKind.REVIEW: (REVIEW_LIMIT + 1_000, 3 * REVIEW_LIMIT),
}


@dataclass(frozen=True)
class ChaosOrders:
    orders: list[Order]
    verdicts: dict[str, ReviewVerdict | None]
    """What the reviewer decides for each order referred to review, by order id; None: left to expire."""


def chaos_orders(plan: ChaosPlan, run_id: str) -> ChaosOrders:
    """The same seed gives the same orders, kinds and verdicts (ids differ per run). Shares are exact counts, rounded:
    a small run still has each kind and each verdict its shares ask for."""
    rng = random.Random(f"{plan.seed}/mix")
    orders = generate_orders(plan.orders, plan.seed, run_id)
    chosen = rng.sample(range(len(orders)), len(orders))
    large = round(plan.orders * plan.large_share)
    review = round(plan.orders * plan.review_share)
    for index in chosen[:large]:
        orders[index] = _repriced(orders[index], OrderKind.LARGE, rng)
    for index in chosen[large : large + review]:
        orders[index] = _repriced(orders[index], OrderKind.REVIEW, rng)
    referred = [order.order_id for order in orders if kind_of(order) == OrderKind.REVIEW]
    rejected, expiring = round(len(referred) * plan.reject_share), round(len(referred) * plan.expire_share)
    verdicts: list[ReviewVerdict | None] = [ReviewVerdict.REJECT] * rejected + [None] * expiring
    verdicts += [ReviewVerdict.APPROVE] * (len(referred) - len(verdicts))
    rng.shuffle(verdicts)
    return ChaosOrders(orders, dict(zip(referred, verdicts, strict=True)))


def _repriced(order: Order, kind: OrderKind, rng: random.Random) -> Order:
    """The same lines, each unit price scaled so that the order totals a random amount of `kind`."""
    low, high = _TOTALS[kind]
    scale = rng.randint(low, high) / order.total_amount
    lines = [
        OrderLine(sku=line.sku, quantity=line.quantity, unit_price=math.ceil(line.unit_price * scale))
        for line in order.lines
    ]
    repriced = order.model_copy(update={"lines": lines})
    assert kind_of(repriced) == kind, (kind, repriced.total_amount)
    return repriced


def spread_over_kinds(orders: list[Order], count: int, seed: str) -> set[str]:
    """`count` order ids taken in turn from each kind, at random within it: a handful still reaches the rare kinds,
    where the risk check and review run."""
    rng = random.Random(seed)
    pools: dict[OrderKind, list[str]] = defaultdict(list)
    for order in orders:
        pools[kind_of(order)].append(order.order_id)
    for ids in pools.values():
        rng.shuffle(ids)
    picked: set[str] = set()
    while len(picked) < min(count, len(orders)):
        for kind in (OrderKind.REVIEW, OrderKind.LARGE, OrderKind.SMALL):
            if pools[kind] and len(picked) < count:
                picked.add(pools[kind].pop())
    return picked
