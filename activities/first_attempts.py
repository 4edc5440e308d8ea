"""Making a batch of first attempts (workflows/first_attempts.py): the calls one after the other, each as its own
activity would be made — its input model, its key, its deadline, its trace span — stopping at the first failure."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from cadenza.telemetry import spans_recorded
from workflows.first_attempts import (
    LOCAL_ATTEMPT_TIMED_OUT,
    CallFailure,
    CallOutcome,
    FirstAttempts,
    FirstAttemptsDone,
    FirstCall,
)

Call = Callable[[Any], Awaitable[Any]]

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
    for round_ in batch.rounds():
        made = await asyncio.gather(*(_attempt(call, calls, inputs, answers, deadline) for call in round_))
        outcomes.extend(made)
        answers.update({outcome.ref: outcome.result for outcome in made if outcome.failure is None})
        if any(outcome.failure is not None or not _fits(outcome, results) for outcome in made):
            break
    return FirstAttemptsDone(outcomes=outcomes)


def _fits(outcome: CallOutcome, results: Mapping[str, type[BaseModel]]) -> bool:
    try:
        results[outcome.activity].model_validate(outcome.result)
    except ValidationError:
        return False
    return True


async def _attempt(
    call: FirstCall,
    calls: Mapping[str, Call],
    inputs: Mapping[str, type[BaseModel]],
    results: Mapping[str, Any],
    deadline: float,
) -> CallOutcome:
    started = time.monotonic()
    failure: CallFailure | None = None
    result: Any = None
    with _span(call):
        try:
            arg = inputs[call.activity].model_validate(_filled(call, results))
            async with asyncio.timeout(deadline):
                answer = await calls[call.activity](arg)
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
    return CallOutcome(
        ref=call.ref,
        activity=call.activity,
        result=result,
        failure=failure,
        took_ms=round((time.monotonic() - started) * 1000, 1),
    )


def _span(call: FirstCall) -> AbstractContextManager[object]:
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
