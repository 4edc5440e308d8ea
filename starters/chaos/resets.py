"""An operator resetting finished orders: the Web UI's Reset to a random completed workflow task of the order's
history ("run it again from there"), then the reset run awaited to its end. Any reset an operator can click must
leave an order whose end state the services' records agree with; the audit after the run checks the reset runs."""

from __future__ import annotations

import random
import uuid

from temporalio.client import Client
from temporalio.service import RPCError

from clients.orders import order_handle
from starters.adversary.resets import reset_points, reset_to
from starters.chaos.background import Background
from starters.chaos.report import ChaosReport
from starters.chaos.stuck import Stuck, closed_or_stuck
from starters.chaos.timeline import Timeline
from starters.load import CLOSED_OUTCOMES, retrying


class Resetter:
    """`closed()` each order as it ends: those in `chosen` that closed are reset, in the background."""

    def __init__(self, client: Client, chosen: set[str], seed: int, timeline: Timeline, report: ChaosReport) -> None:
        self._client, self._chosen, self._timeline, self._figures = client, chosen, timeline, report.actors
        self._rng = random.Random(f"{seed}/reset-points")
        self._background = Background()

    def closed(self, order_id: str, ended: str) -> None:
        if order_id in self._chosen and ended in CLOSED_OUTCOMES:
            self._background.start(self._reset(order_id, ended))

    async def finish(self) -> None:
        """Until every reset run has ended (or was found stuck)."""
        await self._background.finish()

    async def stop(self) -> None:
        await self._background.cancel()

    async def _reset(self, order_id: str, ended: str) -> None:
        handle = order_handle(self._client, order_id)
        try:
            history = await retrying(handle.fetch_history)
            point = self._rng.choice(reset_points(history.events))
            request_id = str(uuid.uuid4())  # the same for every try: a retried reset is one reset
            reset_run = await retrying(
                lambda: reset_to(
                    self._client,
                    handle.id,
                    history.run_id,
                    point,
                    f"cadenza chaos: reset a {ended} order",
                    request_id=request_id,
                )
            )
        except RPCError as err:
            self._figures.resets[f"{ended} -> refused"] += 1
            self._timeline.event(f"reset of {order_id} ({ended}) refused: {err}")
            return
        self._timeline.event(f"reset {order_id} ({ended}) to event {point} of {len(history.events)}")
        outcome = await closed_or_stuck(reset_run, self._client.data_converter)
        if isinstance(outcome, Stuck):
            self._figures.stuck[f"{handle.id} (reset run {reset_run.run_id})"] = outcome.cause
            after = "stuck"
        else:
            after = outcome.state.value
        self._figures.resets[f"{ended} -> {after}"] += 1
        self._timeline.event(f"reset run of {order_id} ended {after}")
