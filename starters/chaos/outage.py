"""An outage of one service: every write answers 503 for a while (through its `/admin/faults`), then it heals.
Reads keep working, as the audit needs them; a real outage's reads would fail too, and be retried the same way."""

from __future__ import annotations

import asyncio

from starters.chaos.plan import Outage
from starters.chaos.report import ChaosReport
from starters.chaos.timeline import Timeline
from starters.faults import FaultAdmin


async def run_outage(
    outage: Outage, starts_at: float, faults: FaultAdmin, timeline: Timeline, report: ChaosReport
) -> None:
    """Wait until `starts_at` of the orders have closed, take `outage.service` down, restore its faults after."""
    while not timeline.reached(starts_at):
        await asyncio.sleep(0.2)
    before = await faults.get(outage.service)
    await faults.set(outage.service, {**before, "error_rate": 1.0})
    report.disruptions.outages += 1
    timeline.outage_started.set()
    timeline.event(f"outage: {outage.service} answers 503 to every write for {outage.seconds:g} s")
    try:
        await asyncio.sleep(outage.seconds)
    finally:  # also when the run ends first: the service must heal for the audit and the compensations
        await faults.set(outage.service, before)
        timeline.event(f"outage over: {outage.service} back to its faults from --faults")
