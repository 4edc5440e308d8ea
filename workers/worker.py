"""Building and running a Cadenza worker. Scale out by running more of them against the same task queue."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from temporalio.client import Client
from temporalio.worker import Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.http import ServiceClients, new_http_client
from activities.orders import OrderActivities
from cadenza.connection import connect
from cadenza.settings import TASK_QUEUE, ServiceEndpoint, service_endpoints
from cadenza.signals import run_until_signalled
from workers.search_attributes import ensure_search_attributes
from workflows.order import OrderWorkflow

log = logging.getLogger("cadenza.worker")

WORKFLOWS = [OrderWorkflow]


def workflow_runner() -> WorkflowRunner:
    """How workflow code runs, for workers and the replayer alike (they must agree, or replay proves nothing).

    Sandboxed, with Cadenza's own modules and pydantic passed through: they are deterministic, and re-importing
    them into every workflow run's sandbox would cost memory and CPU for nothing.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "workflows", "activities")
GRACEFUL_SHUTDOWN = timedelta(seconds=10)


@asynccontextmanager
async def order_worker(
    client: Client,
    *,
    task_queue: str = TASK_QUEUE,
    endpoints: Mapping[str, ServiceEndpoint] | None = None,
) -> AsyncIterator[Worker]:
    """A running worker with the real activities and one shared HTTP client, closed on exit."""
    await ensure_search_attributes(client)
    async with new_http_client() as http:
        activities = OrderActivities(ServiceClients(http, endpoints or service_endpoints()))
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=WORKFLOWS,
            workflow_runner=workflow_runner(),
            activities=activities.all(),
            # On SIGTERM, let in-flight HTTP calls finish rather than abandon them mid-request for another worker to
            # retry: an HTTP call is bounded by its 5 s timeout.
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        )
        async with worker:
            yield worker


async def run_worker(client: Client, *, task_queue: str = TASK_QUEUE, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or forever); in-flight activities finish before the worker shuts down."""
    async with order_worker(client, task_queue=task_queue):
        log.info("worker polling task queue %r", task_queue)
        await (stop or asyncio.Event()).wait()


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Entry point of `python -m workers` and `cadenza worker`."""
    configure_logging()

    async def serve(stop: asyncio.Event) -> None:
        await run_worker(await connect(), stop=stop)

    run_until_signalled(serve)
