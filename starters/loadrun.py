"""The `load` and `chaos` commands: wiring runs to the terminal."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cadenza.connection import connect
from cadenza.settings import SERVICE_NAMES, state_dir
from starters.api_client import OrderApi
from starters.chaos import ChaosPlan, run_chaos
from starters.console import console
from starters.faults import FaultAdmin
from starters.load import LoadReport, PlaceAndAwait, generate_orders, new_run_id, run_orders, via_api, via_temporal
from starters.reports import load_table, order_progress, print_audit, stats_table, write_json


@dataclass(frozen=True)
class ApiTarget:
    """Where `cadenza load --via api` places its orders, and with which key."""

    url: str
    key: str


@asynccontextmanager
async def _placing(api: ApiTarget | None) -> AsyncIterator[PlaceAndAwait]:
    """How the run's orders are placed: through a Temporal client, or through the Order API once it answered and took
    the key (an `OrderApiError` saying what to do next, before anything is changed, if not)."""
    if api is None:
        yield via_temporal(await connect())
        return
    async with OrderApi.open(api.url, api.key) as client:
        await client.check()
        console.print(f"Placing the orders through the Order API at {client.url}")
        yield via_api(client)


async def run_load_command(
    orders: int,
    concurrency: int,
    faults: dict[str, dict[str, Any]],
    seed: int,
    json_file: Path | None,
    api: ApiTarget | None = None,
) -> bool:
    """Run the load and print its report; True when every order ended completed or compensated."""
    async with _placing(api) as place_and_await, httpx.AsyncClient(timeout=30) as http:
        admin = FaultAdmin(http)
        before = {service: await admin.get(service) for service in SERVICE_NAMES}
        stats_before = {service: await admin.stats(service) for service in SERVICE_NAMES}
        for service, settings in faults.items():
            await admin.set(service, settings)
        run_id = new_run_id()
        report = LoadReport(run_id, orders, concurrency, seed)
        try:
            with order_progress(orders, f"load {run_id}") as done:
                await run_orders(
                    place_and_await,
                    generate_orders(orders, seed, run_id),
                    concurrency=concurrency,
                    report=report,
                    on_done=done,
                )
        finally:
            for service in faults:  # the run's faults end with the run
                await admin.set(service, before[service])
        stats = {
            service: {k: v - stats_before[service].get(k, 0) for k, v in (await admin.stats(service)).items()}
            for service in SERVICE_NAMES
        }
    console.print(load_table(report))
    console.print(stats_table(stats))
    for error in report.errors[:20]:
        console.print(f"[red]{error}[/]")
    if json_file:
        write_json(json_file, {**report.summary(), "service_stats": stats})
    if report.unfinished:
        counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.unfinished.items()))
        console.print(
            f"[red]{sum(report.unfinished.values())} of {report.orders} orders did not end completed or compensated[/] "
            f"({counts}). See the errors above and `cadenza order status ORDER_ID`; then check what they left "
            f"behind with `cadenza audit --prefix load-{run_id}`."
        )
        return False
    console.print(f"Check the services' records: `cadenza audit --prefix load-{run_id}`")
    return True


async def run_chaos_command(plan: ChaosPlan, json_file: Path | None) -> bool:
    root = state_dir() / "chaos"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    console.print(f"Chaos run on its own stack (state and logs in {folder})")
    with order_progress(plan.orders, "chaos") as done:
        report = await run_chaos(plan, folder, log=lambda m: console.print(f"[magenta]chaos:[/] {m}"), on_done=done)
    console.print(load_table(report.load))
    console.print(stats_table(report.service_stats))
    console.print(report.disruptions.summary())
    console.print(report.actors.summary())
    for workflow_id, cause in sorted(report.actors.stuck.items()):
        console.print(f"[red]stuck: {workflow_id}: {cause}[/]")
    assert report.audit is not None
    print_audit(report.audit)
    if json_file:
        write_json(
            json_file,
            {
                **report.load.summary(),
                "service_stats": report.service_stats,
                **report.disruptions.counts(),
                **report.actors.counts(),
                "events": report.events,
                "audit_problems": [p.__dict__ for p in report.audit.problems],
            },
        )
    return (
        report.audit.clean
        and report.load.closed == plan.orders
        and not report.disruptions.failed
        and not report.actors.stuck
    )
