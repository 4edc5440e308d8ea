"""`cadenza chaos`: a load run under injected faults, with workers killed (SIGKILL) on a schedule and the Temporal
dev server restarted once, on a stack of its own; then the audit. Durable execution's promise, shown rather than
claimed: every order closes, nobody is charged twice, and the services' records agree with every outcome."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from cadenza.connection import DATA_CONVERTER
from cadenza.processes import free_port
from cadenza.settings import SERVICE_NAMES
from cadenza.stack import EmbeddedStack, StackConfig
from starters.audit import AuditReport, run_audit
from starters.faults import FaultAdmin
from starters.load import LoadReport, generate_orders, new_run_id, run_load
from starters.records import ServiceRecords


@dataclass(frozen=True)
class ChaosPlan:
    orders: int = 500
    concurrency: int = 50
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int = 2
    kill_every_s: float = 15.0
    restart_server: bool = True
    seed: int = 1


@dataclass
class ChaosReport:
    load: LoadReport
    audit: AuditReport | None = None
    worker_kills: int = 0
    server_restarts: int = 0
    service_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


def chaos_stack_config(state_dir: Path) -> StackConfig:
    """Fresh ports and state: the audit then reconciles exactly this run, and a user's stack is never touched."""
    return StackConfig(
        state_dir=state_dir,
        temporal_port=free_port(),
        ui_port=free_port(),
        service_ports={name: free_port() for name in SERVICE_NAMES},
        task_queue="cadenza-chaos",
        persistent_history=True,  # a server restart must not lose anything
    )


class _Monkey:
    """Kills a worker every `kill_every_s` and starts a replacement; restarts the server once, mid-run."""

    def __init__(self, stack: EmbeddedStack, plan: ChaosPlan, report: ChaosReport, log) -> None:  # noqa: ANN001
        self._stack, self._plan, self._report, self._log = stack, plan, report, log
        self._names = (f"worker-{n}" for n in itertools.count(plan.workers + 1))

    async def run(self, halfway: asyncio.Event) -> None:
        next_kill = time.monotonic() + self._plan.kill_every_s
        restarted = not self._plan.restart_server
        while True:
            await asyncio.sleep(0.2)
            if not restarted and halfway.is_set():
                self._event("restarting the Temporal dev server (same SQLite history)")
                await self._stack.restart_temporal()
                self._report.server_restarts += 1
                restarted = True
            if time.monotonic() >= next_kill:
                await self._kill_a_worker()
                next_kill = time.monotonic() + self._plan.kill_every_s

    async def _kill_a_worker(self) -> None:
        victim = next((c for c in self._stack.children if c.name.startswith("worker") and c.exit_code() is None), None)
        if victim is None:
            return
        self._event(f"SIGKILL {victim.name} (pid {victim.pid})")
        victim.kill()
        self._stack.children.remove(victim)
        self._report.worker_kills += 1
        await self._stack.add_worker(next(self._names))

    def _event(self, message: str) -> None:
        self._report.events.append(message)
        self._log(message)


async def run_chaos(plan: ChaosPlan, state_dir: Path, *, log=print, on_done=lambda _: None) -> ChaosReport:  # noqa: ANN001
    stack = EmbeddedStack(chaos_stack_config(state_dir))
    await stack.start(progress=log)
    try:
        for n in range(2, plan.workers + 1):
            await stack.add_worker(f"worker-{n}")
        config = stack.config
        client = await Client.connect(config.temporal_address, data_converter=DATA_CONVERTER)
        async with httpx.AsyncClient(timeout=30) as http:
            faults = FaultAdmin(http, config.endpoints())
            for service, settings in plan.faults.items():
                await faults.set(service, settings)
            run_id = new_run_id()
            orders = generate_orders(plan.orders, plan.seed, run_id)
            report = ChaosReport(LoadReport(run_id, plan.orders, plan.concurrency, plan.seed))
            halfway, done = asyncio.Event(), 0

            def progress(outcome: str) -> None:
                nonlocal done
                done += 1
                if done >= plan.orders // 2:
                    halfway.set()
                on_done(outcome)

            monkey = asyncio.create_task(_Monkey(stack, plan, report, log).run(halfway))
            try:
                await run_load(
                    client, orders, concurrency=plan.concurrency, report=report.load, on_done=progress,
                    task_queue=config.task_queue,
                )
            finally:
                monkey.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await monkey
            for service in SERVICE_NAMES:
                report.service_stats[service] = await faults.stats(service)
                await faults.set(service, {})
            log("auditing every order against the services' records")
            report.audit = await run_audit(client, ServiceRecords(http, config.endpoints()))
            return report
    finally:
        stack.stop()
