"""Business metrics emitted by the workflow through the SDK's replay-safe meter (nothing is counted twice when a
history is replayed): orders by outcome, compensations by result, how long each step took including its retries,
reviews asked for and how long each waited for its decision. (The review queue's size is a gauge of the Order API,
counted from visibility: a workflow cannot hold a fleet-wide gauge.)"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from temporalio import workflow

from workflows.models import CompensationRecord


def order_closed(outcome: str) -> None:
    workflow.metric_meter().create_counter("cadenza_orders", "Orders by outcome").add(1, {"outcome": outcome})


def step_took(step: str, duration: timedelta, outcome: str) -> None:
    """`step`: a step's name (an enum member's value, or a declared saga's step id)."""
    workflow.metric_meter().create_histogram_timedelta(
        "cadenza_step_duration", "Time per fulfilment step, retries included", unit="ms"
    ).record(duration, {"step": str(step), "outcome": outcome})


def compensations_ran(records: Iterable[CompensationRecord]) -> None:
    counter = workflow.metric_meter().create_counter("cadenza_compensations", "Compensations by result")
    for record in records:
        counter.add(1, {"action": record.action.value, "result": record.status.value})


def review_requested() -> None:
    workflow.metric_meter().create_counter("cadenza_reviews_requested", "Orders sent to manual review").add(1)


def review_decided(outcome: str, waited: timedelta) -> None:
    """`outcome`: approved, rejected, expired (the deadline passed) or cancelled (the order was)."""
    workflow.metric_meter().create_histogram_timedelta(
        "cadenza_review_decision_time", "Time an order waited in manual review for its decision", unit="ms"
    ).record(waited, {"outcome": outcome})
