"""First attempts together: a saga's consecutive first attempts made by one local activity.

Each local first attempt costs a round trip between the workflow and the worker's activity side, a marker in history
and its payloads through the codec — for a happy order, five of each, and most of the worker's time per order
(docs/performance.md). So a workflow that knows its next calls up front may hand them over at once: one local activity
makes them in order, each with its own idempotency key and its own deadline (a local attempt's), and stops at the
first that fails; its result records each call's outcome. The workflow then walks its steps as before, and each step
takes its call's recorded outcome instead of making the call (workflows/steps.py, `StepRunner.first_attempts`):

- a success is the step's result, as if its local attempt had returned it;
- a failure is the step's local attempt failing that way: final if non-retryable, else a backoff and the server's
  attempts with the same key (its retry policy less the attempt made);
- a call after the failure was never made: its step runs as usual.

What a lost workflow task did is safe as before: every call has its key, every undo is registered before the first
step and fences the keys, and a replayed batch makes the same calls with the same keys. The Web UI names the calls in
the local activity's summary, and its result lists each one.

These models are what the workflow and the activity exchange (the activity: activities/first_attempts.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

FIRST_ATTEMPTS_FAILED = "FirstAttemptsFailed"
"""The failure type a step sees when the batch that held its first attempt failed as a whole (its deadline passed):
what the batch's calls did is unknown, so the step goes on as after a failed local attempt, with its key."""

LOCAL_ATTEMPT_TIMED_OUT = "LocalAttemptTimedOut"
"""The failure type of a call in the batch that outlived a local attempt's deadline: retried by the server."""


class FillFrom(BaseModel):
    """A field of a call's input taken from an earlier call's result in the same batch (e.g. the reservation to
    commit, from the reservation's result)."""

    ref: str
    field: str


class BatchedCall(BaseModel):
    """A call of a batch as the workflow names it: which call it is to the workflow (`ref`, what the step's `call`
    finds its outcome by), the activity it stands for, and its summary in the Web UI."""

    ref: str
    activity: str
    summary: str


class FirstCall(BatchedCall):
    """One call of OrderWorkflow's batch: its activity's input too; `with_previous`: made at the same time as the call
    before it (independent calls to two services)."""

    arg: dict[str, Any]
    fill: dict[str, FillFrom] = Field(default_factory=dict)
    with_previous: bool = False

    @classmethod
    def of(
        cls,
        activity: str,
        arg: BaseModel,
        summary: str,
        *,
        ref: str | None = None,
        fill: dict[str, FillFrom] | None = None,
        with_previous: bool = False,
    ) -> FirstCall:
        return cls(
            ref=ref or activity,
            activity=activity,
            summary=summary,
            arg=arg.model_dump(mode="json"),
            fill=fill or {},
            with_previous=with_previous,
        )


class FirstAttempts(BaseModel):
    """The batch: its calls in order, and each call's deadline (a local attempt's)."""

    calls: list[FirstCall]
    call_timeout_ms: int

    def rounds(self) -> list[list[FirstCall]]:
        """The calls grouped as they are made: one after the other, a `with_previous` call together with the one before
        it."""
        rounds: list[list[FirstCall]] = []
        for call in self.calls:
            if call.with_previous and rounds:
                rounds[-1].append(call)
            else:
                rounds.append([call])
        return rounds


class CallFailure(BaseModel):
    """How a call failed, as its activity raised it (an `ApplicationError`'s type, message, details, retryability and
    requested delay)."""

    type: str | None
    message: str
    non_retryable: bool = False
    details: list[Any] = Field(default_factory=list)
    next_retry_delay_ms: int | None = None

    @classmethod
    def of(cls, err: ApplicationError) -> CallFailure:
        delay = err.next_retry_delay
        return cls(
            type=err.type,
            message=err.message,
            non_retryable=err.non_retryable,
            details=list(err.details),
            next_retry_delay_ms=int(delay.total_seconds() * 1000) if delay else None,
        )

    def error(self) -> ApplicationError:
        """The failure as the step sees it: the error the call's own local attempt would have raised."""
        delay = timedelta(milliseconds=self.next_retry_delay_ms) if self.next_retry_delay_ms is not None else None
        return ApplicationError(
            self.message, *self.details, type=self.type, non_retryable=self.non_retryable, next_retry_delay=delay
        )


class CallOutcome(BaseModel):
    """What one call of the batch did: its result (the activity's result as JSON) or its failure, and how long it took
    (wall clock, for the Web UI)."""

    ref: str
    activity: str
    result: Any = None
    failure: CallFailure | None = None
    took_ms: float = 0.0


class FirstAttemptsDone(BaseModel):
    """The batch's result: the outcome of every call made, in order. It ends with the first failure; the calls after it
    were not made."""

    outcomes: list[CallOutcome]
