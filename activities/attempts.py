"""Counting activity attempts by activity and outcome (`cadenza_activity_attempts`), for each activity the worker runs
(workers/metrics.py) and for each call a batch of first attempts makes (activities/first_attempts.py): a step's
attempts are counted the same whether its first one was made alone or together with others."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

ATTEMPTS_METRIC = "cadenza_activity_attempts"


def outcome_of(err: BaseException | None) -> str:
    """`ok`, an application error's type, or the exception's class name."""
    if err is None:
        return "ok"
    if isinstance(err, ApplicationError):
        return err.type or "ApplicationError"
    return type(err).__name__


def count_attempt(name: str, outcome: str) -> None:
    """One attempt of activity `name` ended with `outcome`, counted through the SDK's meter of the activity running
    now (so it reaches the worker's Prometheus endpoint); outside an activity, nothing to count it with."""
    if not activity.in_activity():
        return
    counter = activity.metric_meter().create_counter(ATTEMPTS_METRIC, "Activity attempts by outcome")
    counter.add(1, {"activity": name, "outcome": outcome})
