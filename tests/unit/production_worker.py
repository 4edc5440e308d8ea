"""A worker for the workflow unit tests that runs workflow code exactly as production does, and a way to wait for a
result that still fails fast on a bug.

Production workers (`workers.worker.worker_options`) run workflows with Cadenza's own runner (unsandboxed) and without
`workflow_failure_exception_types`: an exception in workflow code fails the workflow *task*, which the server retries
until a fixed worker is deployed; the order waits instead of failing. Tests must see the code under those semantics
(the SDK's default sandbox and `[Exception]` as failure types would prove another setup), yet a bug must fail the
test at once rather than let it hang on a retried task: `result_of` watches the history for a failed workflow task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.worker import Worker

from cadenza.connection import data_converter
from cadenza.failure_types import ORDER_COMPENSATED, SAGA_COMPENSATED
from clients.results import carried_result
from workers.worker import WORKFLOWS, worker_options
from workflows.models import OrderResult
from workflows.saga_run_models import SagaProgress

T = TypeVar("T")

# How often the history is checked for a failed workflow task while waiting for a result (wall-clock seconds).
WATCH_EVERY = 0.2


def production_worker(client: Client, task_queue: str, activities: list[Callable[..., Any]]) -> Worker:
    """The production worker's workflows and options, with the test's activities."""
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities, **worker_options())


class WorkflowTaskFailed(AssertionError):
    """Workflow code raised (a bug, or a non-deterministic change): production would retry this task forever."""


async def workflow_task_failure(handle: WorkflowHandle) -> str | None:
    """The first failed workflow task in the execution's history, if any: its message and its causes' (the SDK's
    "Failed decoding arguments" says little; the pydantic error under it says which model refused what)."""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            # Decoded first: with encryption, messages travel encrypted ("Encoded failure" in the raw event).
            error: BaseException | None = await data_converter().decode_failure(
                event.workflow_task_failed_event_attributes.failure
            )
            messages = []
            while error is not None and str(error):
                messages.append(str(error))
                error = error.__cause__
            return ": ".join(messages) or "(no message)"
    return None


async def _result(handle: WorkflowHandle[Any, T]) -> T:
    try:
        return await handle.result()
    except WorkflowFailureError as err:
        for failure_type, model in _CARRIED:
            if (carried := carried_result(err, failure_type, model)) is not None:
                return carried  # type: ignore[return-value]  # the handle's own result type
        raise


# A compensated order's and a compensated saga run's failures carry their results (clients/results.py).
_CARRIED: tuple[tuple[str, type[BaseModel]], ...] = (
    (ORDER_COMPENSATED, OrderResult),
    (SAGA_COMPENSATED, SagaProgress),
)


async def result_of(handle: WorkflowHandle[Any, T]) -> T:
    """`order_result(handle)` (a compensated order's failure is its result; any other workflow's result as it is),
    except that a failed workflow task raises `WorkflowTaskFailed` at once with its message."""
    outcome = asyncio.ensure_future(_result(handle))
    try:
        while True:
            done, _ = await asyncio.wait([outcome], timeout=WATCH_EVERY)
            if done:
                return outcome.result()
            if (failure := await workflow_task_failure(handle)) is not None:
                raise WorkflowTaskFailed(f"workflow task of {handle.id} failed: {failure}")
    finally:
        outcome.cancel()
