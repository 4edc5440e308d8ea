"""`cadenza up` and `cadenza services`: run (part of) the embedded stack in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib

from rich.table import Table

from cadenza.connection import connect
from cadenza.processes import ProcessFailed
from cadenza.signals import EXIT_INTERRUPTED, Interrupted, unless_stopped
from cadenza.stack import EmbeddedStack, StackConfig
from clients.reconcile_schedule import DEFAULT_EVERY, SCHEDULE_ID, ensure_reconcile_schedule
from starters.console import console, errors
from workflows.reconcile_models import short_duration


def _endpoints_table(stack: EmbeddedStack) -> Table:
    config = stack.config
    table = Table(show_header=False, box=None, padding=(0, 2))
    if any(child.name == "temporal" for child in stack.children):
        table.add_row("Temporal", config.temporal_address, "TEMPORAL_ADDRESS for clients and workers")
        if config.ui_port is not None:
            table.add_row("Web UI", f"http://localhost:{config.ui_port}", "every order, with its activity history")
    for name in config.service_ports:
        table.add_row(name, config.service_url(name), f"OpenAPI: {config.service_url(name)}/docs")
    if config.with_worker:
        table.add_row("worker", f"task queue {config.task_queue}", "scale out: run `cadenza worker` elsewhere")
        if config.metrics_port is not None:
            table.add_row("metrics", f"http://localhost:{config.metrics_port}/metrics", "Prometheus: SDK + cadenza_*")
    if config.api_url is not None:
        table.add_row(
            "Order API",
            f"http://localhost:{config.api_port}",
            f"OpenAPI: http://localhost:{config.api_port}/docs · keys: `cadenza api-key create`",
        )
    if config.with_worker:
        ring = config.key_ring()
        table.add_row(
            "encryption", f"key {ring.active_id}", f"from {ring.source}: keep it with the history (docs/encryption.md)"
        )
    if config.codec_url is not None and any(child.name == "codec-server" for child in stack.children):
        table.add_row(
            "codec server",
            config.codec_url,
            f"decodes orders for the Web UI; CLI: temporal workflow show --codec-endpoint {config.codec_url}",
        )
    table.add_row("state", str(config.state_dir), f"logs in {config.state_dir / 'logs'}")
    return table


async def schedule_reconciler(config: StackConfig) -> None:
    """The reconciler's schedule on the embedded stack (docs/operations.md, "The reconciler"), created or brought up
    to date."""
    client = await connect(address=config.temporal_address, converter=config.data_converter())
    result = await ensure_reconcile_schedule(client, task_queue=config.task_queue)
    console.print(
        f"Reconciler: schedule {SCHEDULE_ID} {result}, a run every {short_duration(DEFAULT_EVERY)} "
        "(`cadenza reconcile run` runs it now)."
    )


async def run_stack(config: StackConfig, stop: asyncio.Event, *, services_only: bool = False) -> int:
    """Start the stack, show where everything is, and keep it up until `stop` is set or a child dies."""
    stack = EmbeddedStack(config)
    if not services_only:
        console.print(f"Temporal CLI: {stack.temporal_binary} ({stack.temporal_origin})")
    try:
        with console.status("Starting…") as status:
            start = stack.start_services() if services_only else stack.start(lambda m: status.update(m + "…"))
            await unless_stopped(start, stop)
    except ProcessFailed as err:
        errors.print(f"[bold red]error:[/] {err}")
        return 1
    except Interrupted:
        # The stack stopped whatever had started before the cancellation reached us.
        errors.print("Interrupted during start-up; stopped what had started.")
        return EXIT_INTERRUPTED
    try:
        console.print(_endpoints_table(stack))
        if not services_only:
            await schedule_reconciler(config)
        console.print("[green]Ready.[/] Press Ctrl-C to stop everything.")
        while not stop.is_set():
            if (dead := stack.exited_child()) is not None:
                errors.print(
                    f"[bold red]error:[/] {dead.name} exited with code {dead.exit_code()}; stopping the stack. "
                    f"Last lines of {dead.log_path}:\n{dead.log_tail()}"
                )
                return 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
        return 0
    finally:
        with console.status("Stopping worker, services and Temporal…"):
            await asyncio.to_thread(stack.stop)
        console.print("Stopped.")
