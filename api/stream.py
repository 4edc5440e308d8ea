"""`GET /orders/{id}/events`: the order's progress as Server-Sent Events.

Each event is one entry of the workflow's own progress log (the `events` query), numbered from 1, so `id:` is
stable: a client that reconnects with `Last-Event-ID: N` gets exactly the events after N. The stream ends once the
order has closed and every event was sent. The log is read with queries — not recorded in history — every
`POLL_S`, so a stream costs the server no history events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from workflows.models import ProgressEvent
from workflows.order import OrderWorkflow

POLL_S = 0.2
# A closed order is done once its log has been sent; a running one with no worker answering is retried meanwhile.
_UNANSWERED_RETRY_S = 1.0


def event_stream(handle: WorkflowHandle, *, after: int, disconnected: Callable[[], Awaitable[bool]]) -> EventSourceResponse:
    return EventSourceResponse(_events(handle, after, disconnected), ping=15)


async def _events(
    handle: WorkflowHandle, after: int, disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[ServerSentEvent]:
    while not await disconnected():
        closed = (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        try:
            events: list[ProgressEvent] = await handle.query(OrderWorkflow.events, after)
        except (RPCError, WorkflowQueryFailedError):  # no worker, or one that cannot run it (a stuck order): wait
            await asyncio.sleep(_UNANSWERED_RETRY_S)
            continue
        for event in events:
            yield ServerSentEvent(data=event.model_dump_json(), event=event.kind.value, id=str(event.seq))
            after = event.seq
        if closed:  # read after the status: nothing can follow the events of a closed order
            return
        await asyncio.sleep(POLL_S)
