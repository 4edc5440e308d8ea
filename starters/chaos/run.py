"""Running a chaos plan on a stack of its own: load, disruptions, then the audit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from activities.audit import run_audit
from activities.records import ServiceRecords
from cadenza.connection import connect
from cadenza.processes import free_port
from cadenza.settings import SERVICE_NAMES
from cadenza.stack import EmbeddedStack, StackConfig
from starters.chaos.cast import Cast
from starters.chaos.mix import chaos_orders
from starters.chaos.plan import ChaosPlan
from starters.chaos.report import ChaosReport
from starters.chaos.timeline import Timeline
from starters.faults import FaultAdmin
from starters.load import LoadReport, new_run_id, run_orders


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


@dataclass(frozen=True)
class ChaosRig:
    """A chaos run's own stack, with its workers and faults set, and the clients that drive it."""

    stack: EmbeddedStack
    client: Client
    http: httpx.AsyncClient
    faults: FaultAdmin


@asynccontextmanager
async def chaos_rig(
    config: StackConfig, *, workers: int, faults: Mapping[str, Mapping[str, Any]], log: Callable[[str], None]
) -> AsyncIterator[ChaosRig]:
    """`config`'s stack with `workers` worker processes and `faults` set on its services, stopped on the way out
    (shared by `cadenza chaos` and `cadenza saga chaos`)."""
    stack = EmbeddedStack(config)
    await stack.start(progress=log)
    try:
        for n in range(2, workers + 1):
            await stack.add_worker(f"worker-{n}")
        client = await connect(address=config.temporal_address, converter=config.data_converter())
        async with httpx.AsyncClient(timeout=30) as http:
            admin = FaultAdmin(http, config.endpoints())
            for service, settings in faults.items():
                await admin.set(service, settings)
            yield ChaosRig(stack, client, http, admin)
    finally:
        stack.stop()


async def run_chaos(
    plan: ChaosPlan,
    state_dir: Path,
    *,
    log: Callable[[str], None] = print,
    on_done: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    async with chaos_rig(chaos_stack_config(state_dir), workers=plan.workers, faults=plan.faults, log=log) as rig:
        stack, client, http, faults, config = rig.stack, rig.client, rig.http, rig.faults, rig.stack.config
        run_id = new_run_id()
        report = ChaosReport(LoadReport(run_id, plan.orders, plan.concurrency, plan.seed))
        timeline = Timeline(plan.orders, report, log)
        mix = chaos_orders(plan, run_id)
        cast = Cast.of(client, plan, mix, timeline, report, config.decision_keys())
        tasks = [asyncio.create_task(c) for c in cast.background(client, stack, plan, faults, timeline, report)]
        for task in tasks:  # a disruption that breaks is announced and counted at once, and the run goes on
            task.add_done_callback(lambda done: _count_failure(done, timeline, report))

        def closed(outcome: str) -> None:
            timeline.order_closed()
            on_done(outcome)

        try:
            await run_orders(
                cast.place_and_await(client, plan, config.task_queue, timeline, report),
                mix.orders,
                concurrency=plan.concurrency,
                report=report.load,
                on_done=closed,
            )
            await cast.resetter.finish()  # under the same disruptions as the orders
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # failures are already counted
            await cast.stop()
        report.disruptions.orders_seen_compensating = len(cast.compensating.seen)
        for service in SERVICE_NAMES:
            report.service_stats[service] = await faults.stats(service)
            await faults.set(service, {})
        log("auditing every order against the services' records")
        report.audit = await run_audit(client, ServiceRecords(http, config.endpoints()))
        return report


def _count_failure(task: asyncio.Task[None], timeline: Timeline, report: ChaosReport) -> None:
    if not task.cancelled() and task.exception() is not None:
        report.disruptions.failed += 1
        timeline.event(f"a disruption stopped on an error (the run goes on without it): {task.exception()!r}")
