"""Busy clients: what a checkout polling `GET /orders/{id}` and a page showing the Order API's event stream do to an
order, aimed at its first workflow task — a query that arrives while that task runs can move later decisions into
another task, and every history must still replay whatever the task boundaries."""

from __future__ import annotations

import asyncio
import contextlib

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError
from temporalio.converter import DataConverter
from temporalio.service import RPCError

from activities.stuck import failure_text, query_failure
from clients.orders import OrderNotFound, describe_order
from starters.chaos.background import Background
from starters.chaos.report import ChaosReport
from starters.chaos.timeline import Timeline
from workflows.models import Order
from workflows.order import OrderWorkflow

POLL_EVERY_S = 0.005
POLL_FOR_S = 3.0
"""Past a first workflow task even on a busy machine; bounded, since a polled order is read back to back meanwhile."""
STREAM_EVERY_S = 0.2
"""How often the Order API's event stream reads the log (api/stream.py)."""
STREAM_FOR_S = 120.0
"""A reader gives up then, as a browser tab is closed: a stream must never hold the run up."""


class BusyClients:
    """`placed()` each order right after placing it: the orders in `polled` get their status read every few ms for
    a few seconds, those in `streamed` their progress events read until they close. Both run in the background."""

    def __init__(
        self, client: Client, polled: set[str], streamed: set[str], timeline: Timeline, report: ChaosReport
    ) -> None:
        self._client, self._polled, self._streamed = client, polled, streamed
        self._timeline, self._figures = timeline, report.actors
        self._background = Background()

    def placed(self, order: Order, handle: WorkflowHandle) -> None:
        if order.order_id in self._polled:
            self._background.start(self._poll(order.order_id))
        if order.order_id in self._streamed:
            self._background.start(self._stream(order.order_id, handle))

    async def stop(self) -> None:
        """Close the streams still open (the run is over)."""
        await self._background.cancel()

    async def _poll(self, order_id: str) -> None:
        self._figures.polled_orders += 1
        reads, failed, state = 0, 0, "none"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_FOR_S):
                while True:
                    try:
                        view = await describe_order(self._client, order_id)
                        reads += 1
                        self._figures.status_queries += 1
                        state = view.progress.state.value if view.progress else view.execution_status.lower()
                    except (OrderNotFound, RPCError):  # not visible yet, or the dev server is restarting
                        failed += 1
                    except WorkflowQueryFailedError as err:  # the worker could not answer: worth knowing why
                        failed += 1
                        await self._query_failed(order_id, err)
                    await asyncio.sleep(POLL_EVERY_S)
        self._timeline.event(
            f"polled {order_id} {reads} times in {POLL_FOR_S:g} s from its start, {failed} unanswered; "
            f"last answer: {state}"
        )

    async def _stream(self, order_id: str, handle: WorkflowHandle) -> None:
        self._figures.streams += 1
        received, closed = 0, False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STREAM_FOR_S):
                while not closed:
                    try:
                        # Status first, as the Order API reads it: nothing can follow the events of a closed order.
                        closed = (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
                        events = await handle.query(OrderWorkflow.events, received)
                    except RPCError:  # no worker answering yet, or the dev server is restarting
                        closed, events = False, []
                    except WorkflowQueryFailedError as err:
                        closed, events = False, []
                        await self._query_failed(order_id, err)
                    received += len(events)
                    self._figures.stream_events += len(events)
                    await asyncio.sleep(STREAM_EVERY_S)
        ending = "to its close" if closed else f"for {STREAM_FOR_S:g} s, then gave up"
        self._timeline.event(f"read the event stream of {order_id} {ending}: {received} events")

    async def _query_failed(self, order_id: str, err: WorkflowQueryFailedError) -> None:
        """Counted by cause; the first time a cause is seen, announced with the order it was seen on."""
        cause = await _why(err, self._client.data_converter)
        if cause not in self._figures.failed_queries:
            self._timeline.event(f"a query of {order_id} failed: {cause}")
        self._figures.failed_queries[cause] += 1


async def _why(err: WorkflowQueryFailedError, converter: DataConverter) -> str:
    """The worker's failure behind a failed query: the SDK passes on only its message, which the codec encrypted."""
    failure = query_failure(err)
    return err.message if failure is None else await failure_text(converter, failure)
