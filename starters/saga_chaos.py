"""`cadenza saga chaos`: runs of declared sagas under faults (errors, stalls, slow commits) and worker SIGKILLs, on a
stack of its own; then the saga audit (activities/saga_audit.py) checks every run against the services' records:
completed with every step's record live, or compensated with nothing live."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client

from activities.records import ServiceRecords
from activities.saga_audit import SagaAuditReport, SagaRunEnd, audit_saga_runs, services_of
from cadenza.processes import ChildProcess, free_port
from cadenza.settings import ALL_SERVICE_NAMES, SERVICE_NAMES, TRAVEL_SERVICE_NAMES
from cadenza.stack import EmbeddedStack, StackConfig
from clients.sagas.runs import start_run, wait_for_run
from starters.chaos.run import chaos_rig
from workflows.saga_definition import SagaDefinition

# Past the worker's 8 s HTTP deadline: a slow-committed request lands after its caller gave up (outcome unknown).
SLOW_COMMIT_MS = 9000
# Every service the sagas call: errors, stalls (commit, then no answer in time) and slow commits. The car API cannot
# fence a key (its undo looks the rental up instead, docs/sagas.md): a rental committing after that lookup stays
# live, the weakness its declaration accepts, so it gets no slow commits here.
DEFAULT_FAULTS: dict[str, dict[str, Any]] = {
    name: {"error_rate": 0.2, "stall_rate": 0.05, "slow_commit_rate": 0.05, "slow_commit_ms": SLOW_COMMIT_MS}
    for name in ALL_SERVICE_NAMES
}
DEFAULT_FAULTS["car"] = {"error_rate": 0.2, "stall_rate": 0.05}
_REFERENCE = re.compile(r"\$\{input\.([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SagaChaosPlan:
    runs: int = 40
    """Runs of each saga."""
    concurrency: int = 10
    failing_share: float = 0.25
    """Share of the runs whose input a service refuses for good (a declined card, a rental of 0 days)."""
    workers: int = 2
    kill_every_s: float = 5.0
    """Seconds between worker SIGKILLs (0: none); a new worker replaces each."""
    max_kills: int | None = None
    """Stop killing after this many (None: for the whole run)."""
    faults: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: DEFAULT_FAULTS)
    seed: int = 1


@dataclass
class SagaChaosReport:
    ends: list[SagaRunEnd] = field(default_factory=list)
    worker_kills: int = 0
    audit: SagaAuditReport | None = None

    @property
    def passed(self) -> bool:
        return self.audit is not None and self.audit.clean and self.audit.runs == len(self.ends)


def chaos_inputs(definition: SagaDefinition, sample: dict[str, Any], plan: SagaChaosPlan, tag: str) -> list[dict]:
    """`plan.runs` inputs from `sample`: each top-level field the run id is made of made unique, and a share of
    them refused for good by a service (the example sagas' services: a declined card, a rental of 0 days)."""
    rng = random.Random(f"{plan.seed}/{definition.name}")
    fields = [name for name in _REFERENCE.findall(definition.id) if isinstance(sample.get(name), str)]
    inputs = []
    for n in range(plan.runs):
        run_input = {**sample, **{name: f"{sample[name]}-{tag}-{n}" for name in fields}}
        if rng.random() < plan.failing_share:
            run_input = refused_for_good(definition, run_input)
        inputs.append(run_input)
    return inputs


def refused_for_good(definition: SagaDefinition, run_input: dict[str, Any]) -> dict[str, Any]:
    services = services_of(definition)
    if services <= set(SERVICE_NAMES) and "payment_token" in run_input:
        return {**run_input, "payment_token": "tok_chargeDeclined"}
    if services <= set(TRAVEL_SERVICE_NAMES) and isinstance(run_input.get("car"), dict):
        return {**run_input, "car": {**run_input["car"], "days": 0}}
    return run_input


def saga_chaos_stack_config(state_dir: Path) -> StackConfig:
    """Fresh ports and state, every service (the order and the travel ones): a user's stack is never touched."""
    return StackConfig(
        state_dir=state_dir,
        temporal_port=free_port(),
        ui_port=None,
        service_ports={name: free_port() for name in ALL_SERVICE_NAMES},
        task_queue="cadenza-saga-chaos",
        persistent_history=False,
    )


async def run_saga_chaos(
    plan: SagaChaosPlan,
    sagas: Sequence[tuple[SagaDefinition, dict[str, Any]]],
    state_dir: Path,
    *,
    log: Callable[[str], None] = print,
) -> SagaChaosReport:
    """Each of `sagas` (a definition and a sample input) run `plan.runs` times on a stack of its own; then the
    audit."""
    report = SagaChaosReport()
    config = saga_chaos_stack_config(state_dir)
    async with chaos_rig(config, workers=plan.workers, faults=plan.faults, log=log) as rig:
        tag = uuid.uuid4().hex[:6]
        work = [
            (definition, run_input)
            for definition, sample in sagas
            for run_input in chaos_inputs(definition, sample, plan, tag)
        ]
        monkey = asyncio.create_task(_kill_workers(rig.stack, plan, report, log))
        try:
            report.ends = await _run_all(rig.client, config.task_queue, work, plan.concurrency, log)
        finally:
            monkey.cancel()
            await asyncio.gather(monkey, return_exceptions=True)
        slow_commits = 0
        for service in plan.faults:
            slow_commits += (await rig.faults.stats(service)).get("slow_commits_injected", 0)
            await rig.faults.set(service, {})
        if slow_commits:
            log("waiting for slow commits still on their way to land")
            await asyncio.sleep(SLOW_COMMIT_MS / 1000)
        log("auditing every run against the services' records")
        report.audit = await audit_saga_runs(report.ends, ServiceRecords(rig.http, config.endpoints()))
    return report


async def _run_all(
    client: Client,
    task_queue: str,
    work: list[tuple[SagaDefinition, dict[str, Any]]],
    concurrency: int,
    log: Callable[[str], None],
) -> list[SagaRunEnd]:
    gate = asyncio.Semaphore(concurrency)
    ends: list[SagaRunEnd] = []

    async def one(definition: SagaDefinition, run_input: dict[str, Any]) -> None:
        async with gate:
            started = await start_run(client, definition, run_input, task_queue=task_queue)
            view = await wait_for_run(client, started.run_id)
        ends.append(SagaRunEnd(started.run_id, definition, run_input, view.progress))
        log(f"[{len(ends)}/{len(work)}] {started.run_id} closed: {view.state}")

    await asyncio.gather(*(one(definition, run_input) for definition, run_input in work))
    return ends


async def _kill_workers(
    stack: EmbeddedStack, plan: SagaChaosPlan, report: SagaChaosReport, log: Callable[[str], None]
) -> None:
    """SIGKILL a worker every `kill_every_s`, mid-run, and start another in its place."""
    if plan.kill_every_s <= 0:
        return
    names = (f"worker-k{n}" for n in range(1, 1_000_000))
    while plan.max_kills is None or report.worker_kills < plan.max_kills:
        await asyncio.sleep(plan.kill_every_s)
        victim = await replace_a_worker(stack, next(names))
        if victim is None:
            continue
        report.worker_kills += 1
        log(f"SIGKILL {victim.name} (pid {victim.pid})")


async def replace_a_worker(stack: EmbeddedStack, name: str) -> ChildProcess | None:
    """SIGKILL one of `stack`'s running workers and start another, `name`, in its place; the one killed, None (and
    nothing started) when no worker was running."""
    victim = next((c for c in stack.children if c.name.startswith("worker") and c.exit_code() is None), None)
    if victim is None:
        return None
    victim.kill()
    stack.children.remove(victim)
    await stack.add_worker(name)
    return victim
