"""Cancelling orders mid-compensation, twice each: the natural move for an operator facing a stuck order, and the
interruption a saga's compensation must survive (it must still undo everything, and the order must still close)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError

from starters.chaos.background import Background
from starters.chaos.report import ChaosReport
from starters.chaos.timeline import Timeline
from starters.load import retrying

SECOND_CANCEL_AFTER_S = 1.0
"""The second cancel lands while the first is being handled."""


class MidCompensationCanceller:
    """`offer()` each order seen compensating; the 1st, (N+1)th, … are cancelled twice, in the background."""

    def __init__(self, client: Client, every: int, timeline: Timeline, report: ChaosReport) -> None:
        self._client, self._every, self._timeline, self._report = client, every, timeline, report
        self._offered = 0
        self._background = Background()

    def offer(self, workflow_id: str) -> None:
        self._offered += 1
        if self._every and (self._offered - 1) % self._every == 0:
            self._background.start(self._cancel_twice(workflow_id))

    async def stop(self) -> None:
        """Abandon the cancels in progress (the run is over: every order has closed)."""
        await self._background.cancel()

    async def _cancel_twice(self, workflow_id: str) -> None:
        handle = self._client.get_workflow_handle(workflow_id)
        for attempt in (1, 2):
            try:
                await retrying(handle.cancel, give_up_after=30)
            except RPCError as err:  # e.g. the order closed in between: worth seeing, not an error of the run
                self._timeline.event(f"cancel {attempt}/2 of {workflow_id} refused: {err}")
                return
            if attempt == 1:
                self._report.disruptions.cancelled_mid_compensation.append(workflow_id)
            self._timeline.event(f"cancel {attempt}/2 of {workflow_id} (seen compensating)")
            await asyncio.sleep(SECOND_CANCEL_AFTER_S)
