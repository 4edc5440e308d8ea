"""Turning a failed activity into the reason an order reports."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.exceptions import ActivityError, ApplicationError, FailureError, RetryState

from cadenza.failure_types import TIMEOUT

_GAVE_UP = {
    RetryState.TIMEOUT: "gave up retrying at the step's deadline",
    RetryState.MAXIMUM_ATTEMPTS_REACHED: "gave up retrying after the step's last attempt",
}


# What ends an order with a reason (and compensates it): an activity that failed for good, or the workflow's own
# refusal (a review that rejected the order).
ORDER_FAILURES = (ActivityError, ApplicationError)


@dataclass(frozen=True)
class FailureSummary:
    reason: str
    error_type: str | None


def describe_failure(err: BaseException) -> FailureSummary:
    """The innermost application error's message and type (e.g. `CardDeclined`), which is what a person needs;
    a step that ran out of retries says so and names the last error it saw."""
    gave_up = _GAVE_UP.get(err.retry_state) if isinstance(err, ActivityError) and err.retry_state else None
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, ApplicationError):
            prefix = f"{gave_up}; last error: " if gave_up else ""
            return FailureSummary(prefix + cause.message, cause.type)
        cause = cause.__cause__
    message = err.message if isinstance(err, FailureError) else str(err)
    return FailureSummary(gave_up or message or type(err).__name__, TIMEOUT if gave_up else type(err).__name__)
