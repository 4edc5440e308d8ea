"""Who takes part in a chaos run, built from its plan: the disruptions (monkey, outage, canceller) and the product's
other users (reviewer, busy clients, an operator resetting orders), and what of theirs runs in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from cadenza.codec import KeyRing
from cadenza.stack import EmbeddedStack
from starters.chaos.cancels import MidCompensationCanceller
from starters.chaos.clients import BusyClients
from starters.chaos.mix import ChaosOrders, spread_over_kinds
from starters.chaos.monkey import Monkey
from starters.chaos.outage import run_outage
from starters.chaos.placing import placing
from starters.chaos.plan import ChaosPlan
from starters.chaos.report import ChaosReport
from starters.chaos.resets import Resetter
from starters.chaos.reviewer import Reviewer
from starters.chaos.timeline import Timeline
from starters.chaos.watch import AWAITING_REVIEW_QUERY, COMPENSATING_QUERY, VisibilityWatch
from starters.faults import FaultAdmin
from starters.load import PlaceAndAwait

FIGURES_EVERY_S = 30.0


@dataclass
class Cast:
    canceller: MidCompensationCanceller
    compensating: VisibilityWatch
    reviewer: Reviewer
    clients: BusyClients
    resetter: Resetter

    @classmethod
    def of(
        cls, client: Client, plan: ChaosPlan, mix: ChaosOrders, timeline: Timeline, report: ChaosReport, keys: KeyRing
    ) -> Cast:
        """Each actor's share of the orders is spread over the kinds, by its own seed; the reviewer signs with
        `keys`."""

        def chosen(count: int, actor: str) -> set[str]:
            return spread_over_kinds(mix.orders, count, f"{plan.seed}/{actor}")

        canceller = MidCompensationCanceller(client, plan.cancel_every, timeline, report)
        return cls(
            canceller=canceller,
            compensating=VisibilityWatch(client, COMPENSATING_QUERY, canceller.offer, state="compensating"),
            reviewer=Reviewer(client, mix.verdicts, timeline, report, keys),
            clients=BusyClients(
                client, chosen(plan.pollers, "polled"), chosen(plan.streams, "streamed"), timeline, report
            ),
            resetter=Resetter(client, chosen(plan.resets, "reset"), plan.seed, timeline, report),
        )

    def place_and_await(
        self, client: Client, plan: ChaosPlan, task_queue: str, timeline: Timeline, report: ChaosReport
    ) -> PlaceAndAwait:
        """How each order is placed and awaited, with this cast's busy clients and resetter told of it."""
        return placing(
            client,
            task_queue=task_queue,
            review_deadline=timedelta(seconds=plan.review_deadline_s),
            clients=self.clients,
            resetter=self.resetter,
            timeline=timeline,
            report=report,
        )

    def background(
        self,
        client: Client,
        stack: EmbeddedStack,
        plan: ChaosPlan,
        faults: FaultAdmin,
        timeline: Timeline,
        report: ChaosReport,
    ) -> list[Coroutine[Any, Any, None]]:
        """What runs beside the orders until the last one (and the last reset run) has ended."""
        coroutines = [
            self.compensating.run(),
            Monkey(stack, plan, report, timeline, self.compensating).run(),
            _tell_figures(timeline, report),
        ]
        if plan.review_share:
            queue = VisibilityWatch(client, AWAITING_REVIEW_QUERY, self.reviewer.offer, state="awaiting review")
            coroutines.append(queue.run())
        if plan.outage is not None:
            coroutines.append(run_outage(plan.outage, plan.outage_after, faults, timeline, report))
        else:
            timeline.outage_started.set()
        return coroutines

    async def stop(self) -> None:
        """Abandon what is still in progress (the run is over)."""
        for actor in (self.canceller, self.reviewer, self.clients, self.resetter):
            await actor.stop()


async def _tell_figures(timeline: Timeline, report: ChaosReport) -> None:
    """The actors' figures so far, now and then: a long run shows what it has done before its end."""
    while True:
        await asyncio.sleep(FIGURES_EVERY_S)
        timeline.event(f"so far: {report.actors.summary()}")
