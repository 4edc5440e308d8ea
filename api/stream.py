"""`GET /orders/{id}/events`: the order's progress as Server-Sent Events.

Each event is one entry of the workflow's own progress log (the `events` query), numbered from 1, so `id:` is
stable: a client that reconnects with `Last-Event-ID: N` gets exactly the events after N. The stream ends once the
order has closed and every event was sent. The log is read with queries — not recorded in history — every
`POLL_S`, so a stream costs the server no history events.

A stream also ends once its API key stops working (revoked): the key is checked on every poll against the store,
which re-reads its file at most once a second, so a revoked key's streams end within about a second and a
reconnecting client gets the 401. `release` is called once the stream has ended, however it ended (it frees the
key's place under its cap of streams, api/holds.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from workflows.models import ProgressEvent
from workflows.order import OrderWorkflow

POLL_S = 0.2
# A closed order is done once its log has been sent; a running one with no worker answering is retried meanwhile.
_UNANSWERED_RETRY_S = 1.0


def event_stream(
    handle: WorkflowHandle,
    *,
    after: int,
    disconnected: Callable[[], Awaitable[bool]],
    authorised: Callable[[], bool],
    release: Callable[[], None],
) -> EventSourceResponse:
    return _HeldStream(_events(handle, after, disconnected, authorised), release=release, ping=15)


class _HeldStream(EventSourceResponse):
    """An event stream that calls `release` when its response has ended (sent, failed or abandoned)."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _events(
    handle: WorkflowHandle, after: int, disconnected: Callable[[], Awaitable[bool]], authorised: Callable[[], bool]
) -> AsyncIterator[ServerSentEvent]:
    while authorised() and not await disconnected():
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
