"""How a chaos run places each order and waits for it: as `cadenza order place --wait` does, with the run's short
review deadline, its busy clients let loose right after the start, and the order handed to the resetter once closed."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client

from clients.orders import place_order
from starters.chaos.clients import BusyClients
from starters.chaos.mix import kind_of
from starters.chaos.report import ChaosReport
from starters.chaos.resets import Resetter
from starters.chaos.stuck import Stuck, closed_or_stuck
from starters.chaos.timeline import Timeline
from starters.load import PlaceAndAwait, retrying
from workflows.models import Order

STUCK = "stuck"
"""The outcome of an order whose workflow task keeps failing: it is given up on, and the run fails."""


def placing(
    client: Client,
    *,
    task_queue: str,
    review_deadline: timedelta,
    clients: BusyClients,
    resetter: Resetter,
    timeline: Timeline,
    report: ChaosReport,
) -> PlaceAndAwait:
    figures = report.actors

    async def place_and_await(order: Order) -> str:
        placed = await retrying(
            lambda: place_order(client, order, task_queue=task_queue, review_deadline=review_deadline)
        )
        figures.orders_by_kind[kind_of(order)] += 1
        clients.placed(order, placed.handle)
        outcome = await closed_or_stuck(placed.handle, client.data_converter)
        if isinstance(outcome, Stuck):
            figures.stuck[order.workflow_id] = outcome.cause
            timeline.event(f"{order.order_id} ({kind_of(order)}) is stuck, given up on: {outcome.cause}")
            return STUCK
        if outcome.review is not None:
            figures.reviews[outcome.review.outcome or "undecided"] += 1
        resetter.closed(order.order_id, outcome.state.value)
        return outcome.state.value

    return place_and_await
