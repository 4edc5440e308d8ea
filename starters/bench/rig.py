"""Starting one profile's stack, and handing back what the measurements need: the order function and the pids.

Each profile gets a stack of its own — its own state folder, free ports (never 7233/8233/8101-8103 or a user's
data), fault injection explicitly off, history in memory (in a SQLite file in the profile's state folder for the
`persisted` profile) — because profiles differ in the dev server's dynamic config and in where the worker runs, and
because no profile should inherit another's history or database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from activities.http import ServiceClients, new_http_client
from cadenza.connection import connect
from cadenza.processes import free_port
from cadenza.settings import SERVICE_NAMES
from cadenza.stack import TUNED_DYNAMIC_CONFIG, EmbeddedStack, StackConfig
from starters.api_client import OrderApi
from starters.bench.api import api_environment, api_fulfil, api_payment_decision, bench_key
from starters.bench.direct import direct_fulfil
from starters.bench.floor import floor_fulfil, floor_worker
from starters.bench.profiles import Profile
from starters.bench.saga import order_saga, saga_fulfil, saga_workflow_id
from starters.bench.workload import Fulfil, temporal_fulfil
from workers.worker import order_worker
from workflows.models import Order

# Passed explicitly so that a CADENZA_FAULTS_<SERVICE> in the user's environment cannot slow the services down.
NO_FAULTS = "{}"


@dataclass(frozen=True)
class Rig:
    """A running profile: how to fulfil an order, and which processes play which role (for CPU and memory)."""

    profile: Profile
    fulfil: Fulfil
    roles: dict[str, list[int]]
    """Role (server, worker, services, api, starter) -> pids. The worker role is this process when the worker (or, for
    the direct baseline, the calling code) runs here; the starter role is then empty, its cost being in the worker's."""
    decide_payment: Fulfil | None = None
    """Places an order and returns at its payment decision, fulfilment going on (profiles behind the Order API)."""
    client: Client | None = None
    """A Temporal client of the profile's server, to read what it recorded of an order (None for direct)."""
    workflow_id_of: Callable[[Order], str] = lambda order: order.workflow_id
    """The workflow id of an order's execution (a declared saga run's differs from OrderWorkflow's)."""

    @property
    def worker_pid(self) -> int:
        return self.roles["worker"][0]

    @property
    def worker_in_this_process(self) -> bool:
        return self.worker_pid == os.getpid()


def stack_config(profile: Profile, state_dir: Path, run_id: str) -> StackConfig:
    return StackConfig(
        state_dir=state_dir,
        temporal_port=free_port(),
        ui_port=None,
        service_ports={name: free_port() for name in SERVICE_NAMES},
        token=f"bench-{run_id}",
        task_queue=f"bench-{run_id}-{profile.name}",
        with_worker=profile.temporal and not profile.worker_in_starter,
        persistent_history=profile.persisted,
        dynamic_config=TUNED_DYNAMIC_CONFIG if profile.tuned_server else (),
        service_faults=dict.fromkeys(SERVICE_NAMES, NO_FAULTS),
        api_port=free_port() if profile.via_api else None,
        encryption=profile.encrypted,
    )


def _roles(stack: EmbeddedStack, profile: Profile) -> dict[str, list[int]]:
    here = os.getpid()
    separate_worker = profile.temporal and not profile.worker_in_starter

    def pid(name: str) -> int:
        found = stack.child(name).pid
        assert found is not None, f"{name} is not running"
        return found

    return {
        "server": [pid("temporal")] if profile.temporal else [],
        "worker": [pid("worker")] if separate_worker else [here],
        "services": [pid(name) for name in SERVICE_NAMES],
        "api": [pid("api")] if profile.via_api else [],
        "starter": [here] if separate_worker else [],
    }


async def _client(profile: Profile, config: StackConfig) -> Client:
    return await connect(
        service_name="cadenza-bench",
        address=config.temporal_address,
        converter=config.data_converter(),
        traced=profile.traced,
    )


async def _temporal_fulfil(profile: Profile, config: StackConfig, client: Client, resources: AsyncExitStack) -> Fulfil:
    if profile.floor:
        http = await resources.enter_async_context(new_http_client(config.endpoints(), traced=False))
        await resources.enter_async_context(
            floor_worker(client, config.task_queue, ServiceClients(http, config.endpoints()))
        )
        return floor_fulfil(client, config.task_queue)
    if profile.worker_in_starter:
        await resources.enter_async_context(
            order_worker(
                client,
                task_queue=config.task_queue,
                endpoints=config.endpoints(),
                sdk_defaults=profile.sdk_default_worker,
                # The stack's own keys, as its worker process would read them: the user's shell need not have any.
                decisions=config.decision_keys(),
            )
        )
    if profile.declared_saga:
        return saga_fulfil(client, config.task_queue, order_saga(), eager_start=profile.eager_start)
    return temporal_fulfil(client, config.task_queue, eager_start=profile.eager_start)


async def _start(stack: EmbeddedStack, profile: Profile, status: Callable[[str], None]) -> None:
    if not profile.temporal:
        await stack.start_services(status)
        return
    with api_environment() if profile.via_api else contextlib.nullcontext():
        await stack.start(status)


@asynccontextmanager
async def running(profile: Profile, state_dir: Path, run_id: str, status: Callable[[str], None]) -> AsyncIterator[Rig]:
    """The profile's stack, up for the length of the block; everything it started is stopped on the way out."""
    config = stack_config(profile, state_dir, run_id)
    stack = EmbeddedStack(config)
    key = bench_key(config.state_dir) if profile.via_api else None
    try:
        await _start(stack, profile, status)
        async with AsyncExitStack() as resources:
            roles = _roles(stack, profile)
            if not profile.temporal:
                # The same pools and requests as the worker's, without its tracing: the script Cadenza replaces.
                http = await resources.enter_async_context(new_http_client(config.endpoints(), traced=False))
                yield Rig(profile, direct_fulfil(ServiceClients(http, config.endpoints())), roles)
            elif key is not None and config.api_url is not None:
                api = await resources.enter_async_context(OrderApi.open(config.api_url, key))
                client = await _client(profile, config)
                yield Rig(profile, api_fulfil(api), roles, decide_payment=api_payment_decision(api), client=client)
            else:
                client = await _client(profile, config)
                fulfil = await _temporal_fulfil(profile, config, client, resources)
                workflow_id_of = saga_workflow_id(order_saga()) if profile.declared_saga else Rig.workflow_id_of
                yield Rig(profile, fulfil, roles, client=client, workflow_id_of=workflow_id_of)
    finally:
        status(f"Stopping the {profile.name} stack")
        await asyncio.to_thread(stack.stop)
