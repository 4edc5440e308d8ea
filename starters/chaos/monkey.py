"""Worker SIGKILLs and the dev-server restart, aimed at compensation as well as at the forward steps."""

from __future__ import annotations

import asyncio
import itertools
import time

from cadenza.stack import EmbeddedStack
from starters.chaos.plan import ChaosPlan
from starters.chaos.report import ChaosReport
from starters.chaos.timeline import Timeline
from starters.chaos.watch import VisibilityWatch


class Monkey:
    """Kills a worker every `kill_every_s` and once as soon as orders are compensating, starting a replacement each
    time; restarts the server once while orders are compensating (at half the orders if none ever is).

    With an outage planned, the compensation-timed kill and restart wait for it to begin: the orders it holds up give
    up and compensate together, a far bigger target than the odd declined card before it. One task does all of it,
    so a kill and a restart never overlap.
    """

    def __init__(
        self, stack: EmbeddedStack, plan: ChaosPlan, report: ChaosReport, timeline: Timeline, watch: VisibilityWatch
    ) -> None:
        self._stack, self._plan, self._report, self._timeline, self._watch = stack, plan, report, timeline, watch
        self._names = (f"worker-{n}" for n in itertools.count(plan.workers + 1))

    async def run(self) -> None:
        kills = self._plan.kill_every_s > 0
        next_kill = time.monotonic() + self._plan.kill_every_s
        killed_during_compensation = not kills
        restarted = not self._plan.restart_server
        while True:
            await asyncio.sleep(0.2)
            compensating = bool(self._watch.current) and self._timeline.outage_started.is_set()
            if compensating and not killed_during_compensation:
                await self._kill_a_worker()
                killed_during_compensation = True
            elif not restarted and (compensating or self._timeline.halfway.is_set()):
                await self._restart_server(compensating)
                restarted = True
            elif kills and time.monotonic() >= next_kill:
                await self._kill_a_worker()
                next_kill = time.monotonic() + self._plan.kill_every_s

    async def _kill_a_worker(self) -> None:
        victim = next((c for c in self._stack.children if c.name.startswith("worker") and c.exit_code() is None), None)
        if victim is None:
            return
        during = self._watch.describe()
        victim.kill()
        self._stack.children.remove(victim)
        self._report.disruptions.worker_kills += 1
        self._report.disruptions.kills_during_compensation += bool(self._watch.current)
        self._timeline.event(f"SIGKILL {victim.name} (pid {victim.pid}); {during}")
        await self._stack.add_worker(next(self._names))

    async def _restart_server(self, compensating: bool) -> None:
        self._timeline.event(f"restarting the Temporal dev server (same SQLite history); {self._watch.describe()}")
        await self._stack.restart_temporal()
        self._report.disruptions.server_restarts += 1
        self._report.disruptions.restarts_during_compensation += compensating
        self._timeline.event("the Temporal dev server is back")
