"""Getting a stack to talk to: the one already running, or an embedded one for the length of a command."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client

from cadenza.connection import connect
from cadenza.logs import logging_to_file
from cadenza.pollers import live_pollers
from cadenza.processes import http_ok, port_in_use
from cadenza.settings import SERVICE_NAMES, service_endpoint, settings
from cadenza.stack import EmbeddedStack, StackConfig
from cadenza.telemetry import core_logs_forwarded
from starters.console import console
from workers.worker import order_worker
from workflows.models import WORKFLOW_ID_PREFIX


async def services_healthy() -> bool:
    for name in SERVICE_NAMES:
        if not await http_ok(f"{service_endpoint(name).base_url}/health")():
            return False
    return True


async def has_workers(client: Client, task_queue: str | None = None) -> bool:
    return bool(await live_pollers(client, task_queue or settings().task_queue))


@asynccontextmanager
async def stack_for_command() -> AsyncIterator[Client]:
    """A client of a complete stack: reuse what runs (e.g. `cadenza up` in another terminal), start the rest.

    Temporal and the services are reused when they answer; if none of the embedded ports answer, the whole embedded
    stack is started and stopped again afterwards. A worker is started in-process when none polls the task queue.
    """
    config = StackConfig.from_settings()
    stack: EmbeddedStack | None = None
    temporal_up = port_in_use(config.temporal_port)
    if not temporal_up and not await services_healthy():
        stack = EmbeddedStack(config.with_(with_worker=False))
        with console.status("Starting the embedded stack (stopped again when this command ends)…") as status:
            await stack.start(progress=lambda message: status.update(message + "…"))
        console.print(
            f"Embedded stack started: Temporal dev server {stack.temporal_origin}, state in {config.state_dir}"
        )
    elif not await services_healthy():
        raise RuntimeError(
            "Temporal is running but the ERP, payment and inventory services are not answering. "
            "Start them with `cadenza services` (or the whole stack with `cadenza up`)."
        )
    try:
        # The Core's own lines (a WARN while the in-process worker starts) go where this command's logs go.
        client = await connect(runtime=core_logs_forwarded())
        if await has_workers(client):
            yield client
        else:
            log_file = config.state_dir / "logs" / "command-worker.log"
            console.print(f"No worker polls the task queue: running one inside this command (its log: {log_file}).")
            # Its log lines, and the tracebacks the SDK logs for every failed attempt (a declined card, a 503 before a
            # retry), go to the file: the console is for the command's own output.
            with logging_to_file(log_file, order_id_prefix=WORKFLOW_ID_PREFIX):
                async with order_worker(client):
                    yield client
    finally:
        if stack is not None:
            with console.status("Stopping the embedded stack…"):
                await asyncio.to_thread(stack.stop)
            console.print(
                f"Stopped the embedded stack. Its history stays in {config.state_dir / 'temporal.db'}: "
                "run `cadenza up` to browse these orders in the Web UI (or use `cadenza demo --keep`)."
            )
