"""A call whose request must never be sent twice: a declared saga's replay-unsafe step (its API re-executes a retried
key, `cadenza verify`).

The server would retry an activity attempt it timed out — a worker SIGKILLed while the request was in flight — and
send the request again. So every attempt here is an activity of its own with a budget of one (`ONE_ATTEMPT`), and the
workflow decides what comes next from how the attempt ended:

- answered, or refused for good (a non-retryable error): that is the step's outcome;
- failed cleanly — a 503 or a 429 the step's outcomes retry, a connection refused before anything was sent: the
  activity says so by marking the error (`not_applied`); then a timer with the step's backoff (or the 429's
  Retry-After), and a new activity with the same key, within the step's attempt budget;
- anything else — timed out by the server (its worker SIGKILLed, or the attempt outran its start-to-close timeout),
  a retryable failure the activity did not mark (a worker shut down mid-request, an activity paused or reset): the
  request may have been applied and nobody knows; the step ends with `OutcomeUnknown`, final, and the saga compensates
  (lookup, then undo).

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
NOT_APPLIED = "not-applied"
"""The last detail of a failure that applied nothing (`not_applied`): recorded in histories, never change it."""


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
            if isinstance(failure, ApplicationError) and failure.non_retryable:
                raise  # answered for good, or already known to be unknown (the activity's OutcomeUnknown)
            if not isinstance(failure, ApplicationError) or not clean(failure):
                raise outcome_unknown(summary, failure) from None
            if budget.maximum_attempts and attempt >= budget.maximum_attempts:
                raise
            await workflow.sleep(
                backoff(budget, attempt, failure), summary=f"retry after {failure.type or 'a failure'}: {summary}"
            )


def not_applied(err: ApplicationError) -> ApplicationError:
    """`err` (retryable) marked as a failure that certainly applied nothing — what the activity raises for a
    replay-unsafe call's clean failures, and the only failures after which the request is sent again."""
    return ApplicationError(
        err.message,
        *err.details,
        NOT_APPLIED,
        type=err.type,
        next_retry_delay=err.next_retry_delay,
        category=err.category,
    )


def clean(failure: ApplicationError) -> bool:
    """Whether a retryable failure was marked by the activity as having applied nothing (`not_applied`)."""
    return bool(failure.details) and failure.details[-1] == NOT_APPLIED


def outcome_unknown(summary: str, failure: BaseException | None) -> ApplicationError:
    """The step's final failure when an attempt ended in a way that says nothing of what the service did."""
    if isinstance(failure, AttemptTimedOut):
        how = f"the attempt timed out ({failure.type.name if failure.type else 'timeout'}), its worker gone or stuck"
    else:
        how = f"the attempt ended without an answer ({type(failure).__name__}: {failure})"
    return ApplicationError(
        f"{summary}: {how}; the request may have been applied and the API does not replay it safely (its "
        "idempotency profile): not sent again",
        type=OUTCOME_UNKNOWN,
        non_retryable=True,
    )


def backoff(policy: RetryPolicy, attempt: int, failure: ApplicationError) -> timedelta:
    """The wait after failed attempt number `attempt` (from 1): the answer's Retry-After, else the policy's
    exponential backoff — the waits the server would have made."""
    if failure.next_retry_delay:
        return failure.next_retry_delay
    wait = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    return min(wait, policy.maximum_interval) if policy.maximum_interval else wait
