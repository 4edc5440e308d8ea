"""Waiting for an order to close without waiting forever on one that never will: an execution whose workflow task
keeps failing (its code cannot replay its own history, or cannot decode a payload) makes no progress however long
one waits, and the run has to say so instead of hanging."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from activities.stuck import failure_text
from clients.orders import wait_for_result
from starters.load import retrying
from workflows.models import OrderProgress

STUCK_AFTER_ATTEMPTS = 3
"""A workflow task tried this often, its last try *failed*: a worker killed mid-task makes it time out instead, and a
faulty service fails activities, never the workflow task."""
FIRST_CHECK_AFTER_S = 5.0
"""Most orders close before this: they cost no describe at all."""
CHECK_EVERY_S = 5.0


@dataclass(frozen=True)
class Stuck:
    cause: str
    """The workflow task's failure, as the worker reported it (decoded: the codec encrypts failure messages)."""


async def closed_or_stuck(handle: WorkflowHandle, converter: DataConverter) -> OrderProgress | Stuck:
    """The order's final progress (as `wait_for_result` gives it), or why it can never close; `converter` decodes the
    failure (the client's)."""
    result = asyncio.create_task(retrying(lambda: wait_for_result(handle)))
    watch = asyncio.create_task(_until_stuck(handle, converter))
    try:
        await asyncio.wait({result, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (result, watch):
            if not task.done():
                task.cancel()
    return result.result() if result.done() else watch.result()


async def _until_stuck(handle: WorkflowHandle, converter: DataConverter) -> Stuck:
    await asyncio.sleep(FIRST_CHECK_AFTER_S)
    while True:
        try:
            description = (await handle.describe()).raw_description
            if (
                description.HasField("pending_workflow_task")
                and description.pending_workflow_task.attempt >= STUCK_AFTER_ATTEMPTS
                and (cause := await _last_task_failure(handle, converter)) is not None
            ):
                return Stuck(cause)
        except RPCError:
            pass  # the dev server is restarting: look again next time
        await asyncio.sleep(CHECK_EVERY_S)


async def _last_task_failure(handle: WorkflowHandle, converter: DataConverter) -> str | None:
    """The cause of the run's last workflow task failure, None if its last unsuccessful task timed out instead."""
    last = None
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_failed_event_attributes") or event.HasField(
            "workflow_task_timed_out_event_attributes"
        ):
            last = event
    if last is None or not last.HasField("workflow_task_failed_event_attributes"):
        return None
    failed = last.workflow_task_failed_event_attributes
    return f"{WorkflowTaskFailedCause.Name(failed.cause)}: {await failure_text(converter, failed.failure)}"
