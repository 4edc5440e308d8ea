"""Business metrics emitted by the workflow through the SDK's replay-safe meter (nothing is counted twice when a
history is replayed): orders by outcome, compensations by result, how long each step took including its retries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from temporalio import workflow

from workflows.models import CompensationRecord, Step


def order_closed(outcome: str) -> None:
    workflow.metric_meter().create_counter("cadenza_orders", "Orders by outcome").add(1, {"outcome": outcome})


def step_took(step: Step, duration: timedelta, outcome: str) -> None:
    workflow.metric_meter().create_histogram_timedelta(
        "cadenza_step_duration", "Time per fulfilment step, retries included", unit="ms"
    ).record(duration, {"step": step.value, "outcome": outcome})


def compensations_ran(records: Iterable[CompensationRecord]) -> None:
    counter = workflow.metric_meter().create_counter("cadenza_compensations", "Compensations by result")
    for record in records:
        counter.add(1, {"action": record.action.value, "result": record.status.value})
