"""A call whose request must never be sent twice: a declared saga's replay-unsafe step (its API re-executes a retried
key, `cadenza verify`).

The server would retry an activity attempt it timed out — a worker SIGKILLed while the request was in flight — and
send the request again. So every attempt here is an activity of its own with a budget of one (`one_attempt`), and the
workflow decides what comes next from how the attempt ended:

- answered, or refused for good (a non-retryable error): that is the step's outcome;
- failed cleanly — a 503 or a 429 the step's outcomes retry, a connection refused before anything was sent (the
  activity reports every failure that may have reached the service as a final `OutcomeUnknown`): a timer with the
  step's backoff (or the 429's Retry-After), then a new activity with the same key, within the step's attempt budget;
- timed out by the server (its worker died, or it outran its start-to-close timeout): the request may have been
  applied and nobody knows; the step ends with `OutcomeUnknown`, final, and the saga compensates (lookup, then undo).

History shows each attempt as its activity and each wait as a timer named after the failure it waits out.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as AttemptTimedOut

with workflow.unsafe.imports_passed_through():
    from cadenza.failure_types import OUTCOME_UNKNOWN
    from workflows.activity_types import ActivityType
    from workflows.policies import OptionsTable
    from workflows.steps import despite_cancellation

T = TypeVar("T")

ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


async def call_at_most_once(table: OptionsTable, activity: ActivityType[Any, T], arg: Any, summary: str) -> T:
    """`activity` with `arg`, its request sent at most once where its outcome could be unknown (module docstring).
    `table` gives the activity's options; its retry policy is the step's budget and backoff, counted by the workflow."""
    options = table.options(activity.name)
    budget: RetryPolicy = options["retry_policy"]
    attempt = 0
    while True:
        attempt += 1
        handle = workflow.start_activity(
            activity.name,
            arg,
            result_type=activity.result,
            summary=summary if attempt == 1 else f"{summary} (attempt {attempt})",
            **{**options, "retry_policy": ONE_ATTEMPT},
        )
        try:
            # A cancel stops the retries; an attempt in flight still finishes (its request may commit).
            return await despite_cancellation(handle, on_cancel=handle.cancel)
        except ActivityError as err:
            failure = err.cause
            if isinstance(failure, AttemptTimedOut):
                raise ApplicationError(
                    f"{summary}: the attempt timed out ({failure.type.name if failure.type else 'timeout'}) with its "
                    "request possibly applied, and the API does not replay it safely (its idempotency profile): not "
                    "sent again",
                    type=OUTCOME_UNKNOWN,
                    non_retryable=True,
                ) from None
            if not clean(failure) or (budget.maximum_attempts and attempt >= budget.maximum_attempts):
                raise
            assert isinstance(failure, ApplicationError)
            await workflow.sleep(
                backoff(budget, attempt, failure), summary=f"retry after {failure.type or 'a failure'}: {summary}"
            )


def clean(failure: BaseException | None) -> bool:
    """Whether a failed attempt certainly left nothing behind, so that the request may be sent again: a retryable
    error the activity raised (it makes every failure that may have reached the service a final OutcomeUnknown)."""
    return isinstance(failure, ApplicationError) and not failure.non_retryable


def backoff(policy: RetryPolicy, attempt: int, failure: ApplicationError) -> timedelta:
    """The wait after failed attempt number `attempt` (from 1): the answer's Retry-After, else the policy's
    exponential backoff — the waits the server would have made."""
    if failure.next_retry_delay:
        return failure.next_retry_delay
    wait = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    return min(wait, policy.maximum_interval) if policy.maximum_interval else wait
