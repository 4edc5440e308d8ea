"""A reviewer working the review queue: each order seen awaiting review is approved, rejected or left to expire, as
the run's mix decided for it, through the operation `cadenza order review` and the Order API use (`review_order`)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from cadenza.codec import KeyRing
from clients.orders import NotAwaitingReview, OrderNotFound, review_order
from starters.chaos.background import Background
from starters.chaos.report import ChaosReport
from starters.chaos.timeline import Timeline
from workflows.models import WORKFLOW_ID_PREFIX, OrderProgress, ReviewVerdict

REVIEWER = "cadenza-chaos"
GIVE_UP_AFTER_S = 60.0
"""Tries go on past a dev-server restart or a worker killed with the update in hand; an order that still has not
acted on the decision by then is counted as unanswered, not waited for."""
RETRY_AFTER_S = 1.0


class Reviewer:
    """`offer()` each order seen awaiting review (a reset run awaiting it again too); decisions run in the
    background, signed with `keys` (the chaos stack's decision keys)."""

    def __init__(
        self,
        client: Client,
        verdicts: dict[str, ReviewVerdict | None],
        timeline: Timeline,
        report: ChaosReport,
        keys: KeyRing,
    ) -> None:
        self._client, self._verdicts, self._timeline, self._keys = client, verdicts, timeline, keys
        self._decisions = report.actors.review_decisions
        self._background = Background()

    def offer(self, workflow_id: str) -> None:
        order_id = workflow_id.removeprefix(WORKFLOW_ID_PREFIX)
        verdict = self._verdicts.get(order_id, ReviewVerdict.APPROVE)
        if verdict is None:
            self._decisions["leave"] += 1
            self._timeline.event(f"review: {order_id} left to expire")
            return
        self._background.start(self._decide(order_id, verdict))

    async def stop(self) -> None:
        await self._background.cancel()

    async def _decide(self, order_id: str, verdict: ReviewVerdict) -> None:
        try:
            async with asyncio.timeout(GIVE_UP_AFTER_S):
                progress = await self._until_answered(order_id, verdict)
        except NotAwaitingReview as refused:  # expired, cancelled or decided meanwhile: nothing was decided
            self._decisions["refused"] += 1
            self._timeline.event(f"review: {verdict.value} of {order_id} refused: {refused}")
        except TimeoutError:
            self._decisions["unanswered"] += 1
            self._timeline.event(f"review: {verdict.value} of {order_id} unanswered after {GIVE_UP_AFTER_S:g} s")
        else:
            self._decisions[verdict.value] += 1
            self._timeline.event(f"review: {verdict.value} {order_id}, now {progress.state.value}")

    async def _until_answered(self, order_id: str, verdict: ReviewVerdict) -> OrderProgress:
        while True:
            try:
                return await review_order(
                    self._client,
                    order_id,
                    verdict,
                    reviewer=REVIEWER,
                    reason=f"chaos run: {verdict.value}",
                    keys=self._keys,
                )
            except (OrderNotFound, RPCError, WorkflowQueryFailedError):  # the server or a worker is away: again
                await asyncio.sleep(RETRY_AFTER_S)
