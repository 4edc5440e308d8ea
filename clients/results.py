"""A closed execution's result, whichever way it closed with one: a workflow that compensated ends Failed (so the Web
UI shows it failed) and carries its result in the failure's details. The one place that reading is done: orders
(`OrderCompensated`) and declared saga runs (`SagaCompensated`) alike."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

M = TypeVar("M", bound=BaseModel)


def carried_result(err: BaseException, failure_type: str, model: type[M]) -> M | None:
    """The `model` a workflow's failure of `failure_type` carries in its details (from a `WorkflowFailureError` or its
    cause); None for any other failure."""
    cause = err.cause if isinstance(err, WorkflowFailureError) else err
    if isinstance(cause, ApplicationError) and cause.type == failure_type and cause.details:
        return model.model_validate(cause.details[0])
    return None


async def result_or_carried(handle: WorkflowHandle[Any, Any], failure_type: str, model: type[M]) -> M:
    """The execution's result: the one it completed with, or the one its `failure_type` failure carries. Raises
    `WorkflowFailureError` for any other ending (a cancelled run has no result)."""
    result, _ = await result_and_status(handle, failure_type, model)
    return result


async def result_and_status(
    handle: WorkflowHandle[Any, Any], failure_type: str, model: type[M]
) -> tuple[M, WorkflowExecutionStatus]:
    """`result_or_carried`, with the execution's status as the way it closed says it: COMPLETED for a result it
    returned, FAILED for one its `failure_type` failure carries. No describe needed."""
    try:
        result: M = await handle.result()
    except WorkflowFailureError as err:
        if (carried := carried_result(err, failure_type, model)) is None:
            raise
        return carried, WorkflowExecutionStatus.FAILED
    return result, WorkflowExecutionStatus.COMPLETED
