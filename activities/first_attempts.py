"""Making a batch of first attempts (workflows/first_attempts.py): the calls one after the other, each as its own
activity would be made — its input, its key, its deadline, its trace span — stopping at the first failure.

Two batches share `attempt` (one call: its deadline, its span, its failure as the step sees it): OrderWorkflow's
(`make_first_attempts`: its activities' calls) and a declared saga's (`make_saga_first_attempts`: its steps' calls,
rendered here as the workflow renders them).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from activities.attempts import count_attempt, outcome_of
from cadenza.telemetry import spans_recorded
from workflows.activity_types import CALL_OPERATION
from workflows.first_attempts import (
    LOCAL_ATTEMPT_TIMED_OUT,
    BatchedCall,
    CallFailure,
    CallOutcome,
    FirstAttempts,
    FirstAttemptsDone,
    FirstCall,
)
from workflows.saga_calls import projected, rendered, scope_of
from workflows.saga_run_models import OperationAnswer, OperationCall, SagaFirstAttempts
from workflows.saga_templates import TemplateError

Call = Callable[[Any], Awaitable[Any]]
Send = Callable[[OperationCall], Awaitable[OperationAnswer]]

_tracer = trace.get_tracer(__name__)


async def make_first_attempts(
    batch: FirstAttempts,
    calls: Mapping[str, Call],
    inputs: Mapping[str, type[BaseModel]],
    results: Mapping[str, type[BaseModel]],
) -> FirstAttemptsDone:
    """Make `batch`'s calls in its rounds (a round's calls at the same time, all over before the next round or the
    return), with `calls[activity]` given its input as `inputs[activity]`. Stop after the round where one failed, or
    answered something that is not a `results[activity]`: the workflow fails to decode it (a bug, which leaves the
    order waiting for a fix), so nothing after it may have been made."""
    outcomes: list[CallOutcome] = []
    answers: dict[str, Any] = {}
    deadline = batch.call_timeout_ms / 1000

    async def make(call: FirstCall) -> Any:
        # Its input made inside the attempt: one that does not validate fails the call, as its own activity would.
        return await calls[call.activity](inputs[call.activity].model_validate(_filled(call, answers)))

    for round_ in batch.rounds():
        made = await asyncio.gather(*(attempt(call, functools.partial(make, call), deadline) for call in round_))
        outcomes.extend(made)
        answers.update({outcome.ref: outcome.result for outcome in made if outcome.failure is None})
        if any(outcome.failure is not None or not _fits(outcome, results) for outcome in made):
            break
    return FirstAttemptsDone(outcomes=outcomes)


async def make_saga_first_attempts(batch: SagaFirstAttempts, send: Send) -> FirstAttemptsDone:
    """Make the first attempts of `batch`'s steps one after the other, each step's call rendered over the results of
    those before it (workflows/saga_calls.py, as the workflow renders it: same request, same key) and sent by `send`
    (the generic activity's: same classification by the step's declared outcomes). Stop after the first that fails;
    before a call that cannot be rendered, and after an answer that cannot be projected into the step's result: the
    workflow then renders or projects it itself and fails the step (TemplateFailed)."""
    outcomes: list[CallOutcome] = []
    results: dict[str, Any] = {}
    deadline = batch.call_timeout_ms / 1000
    for step in batch.steps:
        scope = scope_of(batch.input, batch.keys, results)
        try:
            request = rendered(step.call, scope, batch.keys[step.id])
        except TemplateError:
            break
        call = BatchedCall(
            ref=step.id, activity=CALL_OPERATION.name, summary=f"{step.id}: {request.method} {request.path}"
        )
        outcome = await attempt(call, functools.partial(send, request), deadline)
        outcomes.append(outcome)
        if outcome.failure is not None:
            break
        try:
            results[step.id] = projected(step.result, scope, outcome.result["body"])
        except TemplateError:
            break
    return FirstAttemptsDone(outcomes=outcomes)


def _fits(outcome: CallOutcome, results: Mapping[str, type[BaseModel]]) -> bool:
    try:
        results[outcome.activity].model_validate(outcome.result)
    except ValidationError:
        return False
    return True


async def attempt(call: BatchedCall, make: Callable[[], Awaitable[Any]], deadline: float) -> CallOutcome:
    """One call of a batch, `make()`, as its own local attempt would go: within `deadline` seconds (else a failure the
    server retries), its `ApplicationError` kept as raised (type, retryability, requested delay), any other error a
    failure the server retries; its result as JSON."""
    started = time.monotonic()
    failure: CallFailure | None = None
    result: Any = None
    with _span(call):
        try:
            async with asyncio.timeout(deadline):
                answer = await make()
            result = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
        except ApplicationError as err:
            failure = CallFailure.of(err)
        except TimeoutError:
            failure = CallFailure(
                type=LOCAL_ATTEMPT_TIMED_OUT,
                message=f"{call.summary}: no answer within {deadline * 1000:.0f} ms; the server retries it",
            )
        except Exception as err:  # noqa: BLE001 — as its own activity attempt would: a failure the server retries
            failure = CallFailure(type=type(err).__name__, message=f"{call.summary}: {err}")
    # Counted as its own attempt would be (cadenza_activity_attempts), under the call's activity.
    count_attempt(call.activity, outcome_of(failure.error() if failure else None))
    return CallOutcome(
        ref=call.ref,
        activity=call.activity,
        result=result,
        failure=failure,
        took_ms=round((time.monotonic() - started) * 1000, 1),
    )


def _span(call: BatchedCall) -> AbstractContextManager[object]:
    """A span per call, named as the worker's tracing names an activity attempt, so that a trace reads the same batched
    or not; none where this process's spans go nowhere (cadenza/telemetry.py: the context propagates anyway)."""
    if not spans_recorded():
        return contextlib.nullcontext()
    return _tracer.start_as_current_span(f"RunActivity:{call.activity}")


def _filled(call: FirstCall, results: Mapping[str, Any]) -> dict[str, Any]:
    arg = dict(call.arg)
    for field, source in call.fill.items():
        arg[field] = results[source.ref][source.field]
    return arg
