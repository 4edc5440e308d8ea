"""The `cadenza` command. Each command is a thin shell over a module that does the work."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import math
from collections.abc import Awaitable, Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.live import Live
from temporalio.client import Client, WorkflowHandle

from cadenza.connection import connect, encryption_summary, key_ring
from cadenza.errors import CadenzaError
from cadenza.process_exit import run_and_exit
from cadenza.processes import hand_over_to_module
from cadenza.settings import ALL_SERVICE_NAMES, service_endpoint, settings, web_ui_base, workflow_ui_link
from cadenza.signals import EXIT_INTERRUPTED, run_until_signalled
from cadenza.stack import StackConfig
from clients.orders import (
    ClosedOrder,
    InvalidOrder,
    NotAwaitingOperator,
    NotAwaitingReview,
    OrderClosed,
    OrderIdTaken,
    OrderNotFound,
    cancel_order,
    describe_order,
    load_order,
    order_json,
    place_order,
    retry_compensation,
    review_order,
    until_closed_or_waiting,
    wait_for_result,
)
from clients.status_query import NoWorkerPolls
from starters.adversary.command import adversary_app
from starters.api_keys import api_key_app
from starters.bench.profiles import DEFAULT_PROFILES, PROFILES
from starters.certs import certs_app
from starters.chaos.plan import ChaosPlan
from starters.codec_server import codec_server
from starters.compose_secrets import compose_secrets
from starters.console import EXIT_BAD_INPUT, EXIT_PROBLEM, CommandGroup, console, errors, fail
from starters.demo import Demo
from starters.deploy import deploy_app
from starters.doctor.command import doctor
from starters.faults import FaultAdmin
from starters.faults_command import faults_app
from starters.keys import keys_app
from starters.preflight import check_skus_exist
from starters.record_histories import DEFAULT_OUT, Recorder, check_out_folder
from starters.record_saga_histories import DEFAULT_SAGA_OUT, SagaRecorder
from starters.replay import (
    ReplayReport,
    default_query,
    default_workers,
    histories_from_files,
    histories_from_server,
    parse_since,
)
from starters.replay import (
    replay as replay_histories,
)
from starters.replay_view import failures_table, replay_progress, summary
from starters.reports import report_file
from starters.saga import saga_app
from starters.stack_session import stack_for_command
from starters.status_view import status_panel
from starters.up import run_stack
from starters.verify import verify_command
from workflows.models import OrderProgress, OrderState


def _order_next_step(err: CadenzaError) -> str:
    """The next step after a refused order operation, in this door's terms (the clients layer names no command)."""
    if isinstance(err, InvalidOrder):
        return "Nothing was started. Fix the file and place it again."
    if isinstance(err, OrderNotFound):
        return "Place it with `cadenza order place FILE`."
    if isinstance(err, OrderIdTaken):
        return "Place it under a new id (edit order_id in the file)."
    if isinstance(err, (OrderClosed, NotAwaitingReview, NotAwaitingOperator)):
        return f"See `cadenza order status {err.order_id}`."
    return err.next_step


class _Commands(CommandGroup):
    def next_step(self, err: CadenzaError) -> str:
        return _order_next_step(err)


app = typer.Typer(
    cls=_Commands,  # reports any CadenzaError: its message, its next step, its exit code
    help="Cadenza: order fulfilment orchestrated by Temporal across ERP, payment and inventory APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _settings_first() -> None:
    # Every command reads its settings from the environment: a bad CADENZA_* value stops it here, before it starts
    # anything, with one line naming the variable.
    settings()


order_app = typer.Typer(help="Place, inspect and cancel orders.", no_args_is_help=True)
app.add_typer(order_app, name="order")
reconcile_app = typer.Typer(
    help="The reconciler: checks recent orders against the services, repairs what is safe, raises the rest.",
    no_args_is_help=True,
)
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(api_key_app, name="api-key")
app.add_typer(keys_app, name="keys")
app.add_typer(certs_app, name="certs")
app.add_typer(deploy_app, name="deploy")
app.add_typer(adversary_app, name="adversary")
app.add_typer(saga_app, name="saga")
app.add_typer(faults_app, name="faults")
app.command("codec-server")(codec_server)
app.command("compose-secrets")(compose_secrets)
app.command()(doctor)
app.command("verify")(verify_command)

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine. Its `CadenzaError`s rise to the command group, which reports them."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _run_signalled(main: Callable[[asyncio.Event], Awaitable[int]]) -> None:
    raise typer.Exit(run_until_signalled(main))


@app.command()
def up() -> None:
    """Run the embedded stack in the foreground: Temporal dev server + Web UI, the simulated services, one worker."""
    _run_signalled(lambda stop: run_stack(StackConfig.from_settings(), stop))


@app.command()
def services() -> None:
    """Run only the simulated services (ERP, payment, inventory; flight, hotel, car) in the foreground."""
    config = StackConfig.from_settings().with_(with_worker=False)
    _run_signalled(lambda stop: run_stack(config, stop, services_only=True))


@app.command()
def worker() -> None:
    """Run one worker against the configured Temporal (TEMPORAL_ADDRESS etc.); start more to scale out."""
    from workers.worker import main as worker_main

    worker_main()


@app.command()
def api(
    port: Annotated[int | None, typer.Option("--port", help="Port (default CADENZA_API_PORT, else 8100)")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Serve the Order API (HTTP front door: place, follow, list and cancel orders) against the configured Temporal.
    API keys: `cadenza api-key create`; docs at http://HOST:PORT/docs."""
    # Handed over, not imported: doors never import each other (python -m api says what it refuses).
    hand_over_to_module("api", "--host", host, *(["--port", str(port)] if port else []))


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the stack up afterwards (until Ctrl-C) to browse the Web UI")
    ] = False,
) -> None:
    """Place one order per scenario (happy, declined card, out of stock, flaky payment, duplicate) and check each
    against the services' own records. Starts the embedded stack if it is not running. Exit 0 only if all pass."""

    async def main() -> bool:
        async with stack_for_command() as client, httpx.AsyncClient(timeout=10) as http:
            demo = Demo(client, http)
            if console.is_terminal:
                with Live(console=console, refresh_per_second=8) as live:
                    await demo.run(live)
            else:  # a file or a pipe: the final table once, whole (a live display off a terminal is cut and unended)
                await demo.run()
                console.print(demo.table())
            console.print("Each order in the Temporal Web UI:\n" + demo.links())
            for problem in demo.stock_problems:
                console.print(f"[red]✗ {problem}[/]")
            if keep:
                console.print(f"Stack kept running: Web UI at {web_ui_base()}. Press Ctrl-C to stop it.")
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
            return demo.passed

    if not _run(main()):
        fail("some scenarios did not end as expected (see the check column); logs are in .cadenza/logs")
    console.print("[green]Every scenario ended as expected[/], and the services' records agree.")


@order_app.command("place")
def order_place(
    file: Annotated[Path, typer.Argument(help="Order as JSON, e.g. examples/order.json")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the outcome and print the OrderResult as JSON")
    ] = False,
) -> None:
    """Validate an order and start its workflow. Placing the same order again starts nothing new; an order id already
    placed with a different body is refused (exit 1), as the Order API refuses it (409)."""

    async def main() -> None:
        order = load_order(file)
        await check_skus_exist(order)
        client = await connect()
        if key_ring() is None:  # never silently: this order's customer data goes to Temporal in plain text
            errors.print(f"[yellow]warning:[/] {encryption_summary()}")
        placed = await place_order(client, order)  # an id used for another body: refused, exit 1
        link = workflow_ui_link(client.namespace, order.workflow_id)
        note = "already placed with this body; nothing new started" if placed.duplicate else "placed"
        if not wait:
            console.print(f"Order {order.order_id} {note}: {order.describe()}\nWeb UI: {link}")
            return
        typer.echo(f"Order {order.order_id} {note}; waiting for the outcome… (Web UI: {link})", err=True)
        # An order waiting for a person can wait for days: answered then, as the Order API's `Prefer: wait` is.
        waited = await _until_closed_or_waiting(client, placed.handle)
        if isinstance(waited, ClosedOrder):
            print(order_json(waited.result))
        elif waited is not None:
            print(order_json(waited))
            typer.echo(_waits_for_a_person(order.order_id, waited.state), err=True)
        else:  # closed without a result (cancelled): its final progress
            print(order_json(await wait_for_result(placed.handle)))

    _run(main())


WAIT_POLL_S = 0.5
"""When `order place --wait` first asks a running order whether it now waits for a person; then at doubling intervals,
up to `clients.orders.POLL_CAP_S`."""
NO_WORKER_POLL_S = 5.0
"""How often `order place --wait` looks again for a worker when none polls the order's task queue."""


async def _until_closed_or_waiting(
    client: Client, handle: WorkflowHandle[Any, Any]
) -> OrderProgress | ClosedOrder | None:
    """`until_closed_or_waiting` without a deadline. While no worker polls the order's task queue, the order cannot
    move: say so once, with what to do, and keep waiting (Ctrl-C leaves the order placed, to be run by a worker)."""
    told = False
    while True:
        try:
            return await until_closed_or_waiting(client, handle, math.inf, poll_s=WAIT_POLL_S)
        except NoWorkerPolls as err:
            if not told:
                typer.echo(
                    f"{err}: {err.next_step}. Still waiting; Ctrl-C stops waiting, the order stays placed.", err=True
                )
                told = True
            await asyncio.sleep(NO_WORKER_POLL_S)


def _waits_for_a_person(order_id: str, state: OrderState) -> str:
    next_step = (
        f"decide it with `cadenza order review {order_id} --approve` (or --reject)"
        if state == OrderState.AWAITING_REVIEW
        else f"fix what its failed compensation met, then `cadenza order retry-compensation {order_id}`"
    )
    return (
        f"Order {order_id} waits in {state.value} for a person: {next_step}. "
        f"Follow it with `cadenza order status {order_id}`."
    )


@order_app.command("status")
def order_status(order_id: Annotated[str, typer.Argument(help="The order id (not the workflow id)")]) -> None:
    """Show where an order is: current step, completed steps, compensations, Web UI link."""

    async def main() -> None:
        client = await connect()
        view = await describe_order(client, order_id)
        console.print(status_panel(view, workflow_ui_link(client.namespace, view.workflow_id)))

    _run(main())


@order_app.command("cancel")
def order_cancel(order_id: Annotated[str, typer.Argument(help="The order id")]) -> None:
    """Cancel an order: whatever it has done so far is compensated."""

    async def main() -> None:
        client = await connect()
        console.print(f"{await cancel_order(client, order_id)} Follow it with `cadenza order status {order_id}`.")

    _run(main())


@order_app.command("retry-compensation")
def order_retry_compensation(order_id: Annotated[str, typer.Argument(help="The order id")]) -> None:
    """Resume an order in needs_attention: retry its failed compensations (after fixing their cause). Recorded with
    your user name."""

    async def main() -> None:
        client = await connect()
        await retry_compensation(client, order_id, operator=f"cli:{getpass.getuser()}")
        console.print(f"Retrying the failed compensations of {order_id}.")

    _run(main())


@order_app.command("review")
def order_review(
    order_id: Annotated[str, typer.Argument(help="The order id")],
    approve: Annotated[bool, typer.Option("--approve", help="Approve: charge the order and carry on")] = False,
    reject: Annotated[bool, typer.Option("--reject", help="Reject: compensate the order")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why, kept in the order's progress")] = None,
) -> None:
    """Decide an order in awaiting_review (a large order the risk rules sent to a person). Recorded with your user
    name; refused (exit 1) for an order that is not awaiting review, and without exactly one decision (exit 2)."""
    from workflows.models import REVIEW_REASON_MAX, ReviewVerdict

    if approve == reject:
        fail("choose exactly one of --approve or --reject", EXIT_BAD_INPUT)
    if reason is not None and not 1 <= len(reason) <= REVIEW_REASON_MAX:
        fail(f"--reason must be 1 to {REVIEW_REASON_MAX} characters", EXIT_BAD_INPUT)
    verdict = ReviewVerdict.APPROVE if approve else ReviewVerdict.REJECT

    async def main() -> None:
        client = await connect()
        progress = await review_order(client, order_id, verdict, reviewer=f"cli:{getpass.getuser()}", reason=reason)
        outcome = progress.review.outcome if progress.review and progress.review.outcome else verdict
        console.print(
            f"Order {order_id} {outcome.value}: "
            f"now {progress.state.value}. Follow it with `cadenza order status {order_id}`."
        )

    _run(main())


class LoadVia(str, Enum):
    temporal = "temporal"
    api = "api"


@app.command()
def load(
    orders: Annotated[int, typer.Option("--orders", min=1, help="How many orders to place")] = 100,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="At most this many in flight")] = 20,
    faults: Annotated[
        str | None, typer.Option("--faults", help="e.g. 'payment:error_rate=0.3,stall_rate=0.1;erp:rate_limit=0.1'")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the order mix")] = 1,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the report to this file", callback=report_file)
    ] = None,
    via: Annotated[
        LoadVia,
        typer.Option(
            "--via",
            help="temporal: place orders with a Temporal client, as `cadenza order place`; api: over HTTP "
            "through the Order API, as a checkout would (Prefer: wait=60, then polling)",
        ),
    ] = LoadVia.temporal,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url", help="The Order API, with --via api (default http://localhost:8100, or CADENZA_API_PORT)"
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="A key with scopes orders:write and orders:read, not bound to a customer (with --via api; default: "
            "CADENZA_API_KEY)",
        ),
    ] = None,
) -> None:
    """Place generated orders (good and declined cards, in- and out-of-stock SKUs) against the running stack and
    report outcomes and end-to-end latency. --faults applies fault injection for the run only. Exit 1 if an order
    did not end completed or compensated (an error placing or awaiting it, or any other end)."""
    from cadenza.settings import api_port
    from starters.loadrun import ApiTarget, run_load_command

    fault_settings = _fault_spec(faults)
    target = None
    api_key = api_key or settings().get("CADENZA_API_KEY")
    if via is LoadVia.api:
        if not api_key:
            fail(
                "--via api needs an API key: pass --api-key or set CADENZA_API_KEY (create one with "
                "`cadenza api-key create --scope orders:write --scope orders:read`).",
                EXIT_BAD_INPUT,
            )
        target = ApiTarget(api_url or f"http://localhost:{api_port() or 8100}", api_key)
    elif api_url:
        fail("--api-url is for --via api; add --via api to place the orders through the Order API.", EXIT_BAD_INPUT)
    if not _run(run_load_command(orders, concurrency, fault_settings, seed, json_file, api=target)):
        raise typer.Exit(EXIT_PROBLEM)


@app.command()
def audit(
    prefix: Annotated[str, typer.Option("--prefix", help="Only orders whose id starts with this")] = "",
) -> None:
    """Reconcile every order's outcome with the ERP, payment and inventory records; exit 1 on any inconsistency."""
    from activities.audit import run_audit
    from activities.order_runs import checked_prefix
    from activities.records import ServiceRecords
    from starters.reports import print_audit

    async def main() -> bool:
        checked_prefix(prefix)  # refused before Temporal is asked (exit 2)
        client = await connect()
        async with httpx.AsyncClient(timeout=30) as http:
            with console.status("Auditing orders against the services' records…"):
                report = await run_audit(client, ServiceRecords(http), prefix=prefix)
        print_audit(report)
        return report.clean

    if not _run(main()):
        raise typer.Exit(EXIT_PROBLEM)


@app.command()
def chaos(
    orders: Annotated[int, typer.Option("--orders", min=1)] = 500,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 50,
    faults: Annotated[str, typer.Option("--faults")] = (
        "payment:error_rate=0.3,stall_rate=0.1,slow_commit_rate=0.05;inventory:error_rate=0.2,slow_commit_rate=0.05;"
        "erp:rate_limit=0.1,slow_commit_rate=0.05"
    ),
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes at any time")] = 2,
    kill_every: Annotated[
        float,
        typer.Option(
            "--kill-every",
            min=0,
            help="Seconds between worker SIGKILLs (0: none); one more as soon as orders are compensating",
        ),
    ] = 15.0,
    restart_server: Annotated[
        bool,
        typer.Option(
            "--restart-server/--no-restart-server", help="Restart the dev server once, while orders are compensating"
        ),
    ] = True,
    outage: Annotated[
        str | None,
        typer.Option(
            "--outage",
            metavar="SERVICE:SECONDS",
            help="One service answers 503 to every write for that long, from 10% "
            "of the orders on; default payment:135 (longer than a step's 105 s of retries); 'none' for no outage",
        ),
    ] = None,
    cancel_every: Annotated[
        int,
        typer.Option(
            "--cancel-every",
            min=0,
            help="Cancel (twice) every Nth order seen compensating or in needs_attention; 0: none",
        ),
    ] = 5,
    large_share: Annotated[
        float, _share("--large-share", "Share of the orders of 1,000.00 EUR up to 10,000.00: risk-checked, let through")
    ] = ChaosPlan.large_share,
    review_share: Annotated[
        float,
        _share(
            "--review-share",
            "Share of the orders above 10,000.00 EUR: referred to manual review, decided by the run's reviewer",
        ),
    ] = ChaosPlan.review_share,
    review_deadline: Annotated[
        int,
        typer.Option(
            "--review-deadline",
            min=1,
            metavar="SECONDS",
            help="Review deadline of the run's orders (as "
            "CADENZA_REVIEW_DEADLINE sets it): orders left undecided expire within the run",
        ),
    ] = ChaosPlan.review_deadline_s,
    reject_share: Annotated[
        float, _share("--reject-share", "Of the orders referred to review, the share the reviewer rejects")
    ] = ChaosPlan.reject_share,
    expire_share: Annotated[
        float,
        _share(
            "--expire-share",
            "Of the orders referred to review, the share left to expire (the reviewer approves the rest)",
        ),
    ] = ChaosPlan.expire_share,
    pollers: Annotated[
        int,
        _some_orders(
            "--pollers",
            "Orders whose status is read every 5 ms for 3 s from their start, as a client polling GET /orders/{id}",
        ),
    ] = ChaosPlan.pollers,
    streams: Annotated[
        int,
        _some_orders(
            "--streams", "Orders whose progress events are read until they close, as the Order API's event stream does"
        ),
    ] = ChaosPlan.streams,
    resets: Annotated[
        int,
        _some_orders(
            "--resets",
            "Orders reset, once closed, to a random completed workflow task of their history, each reset run awaited",
        ),
    ] = ChaosPlan.resets,
    seed: Annotated[int, typer.Option("--seed")] = 1,
    json_file: Annotated[Path | None, typer.Option("--json", callback=report_file)] = None,
) -> None:
    """The large run on a stack of its own: load with faults (slow commits included), an outage of one service,
    cancels mid-compensation, workers killed on a schedule and during compensation, one dev-server restart during
    compensation; and the rest of the product: large orders (risk check), orders for manual review decided by a
    reviewer or left to expire, clients polling and streaming orders from their start, finished orders reset. Then
    the audit. Exit 0 only if every order closed, none got stuck and the audit is clean."""
    from starters.chaos import DEFAULT_OUTAGE, InvalidOutage, InvalidPlan, parse_outage
    from starters.loadrun import run_chaos_command

    try:
        planned_outage = DEFAULT_OUTAGE if outage is None else parse_outage(outage)
    except InvalidOutage as err:
        fail(f"--outage: {err}", EXIT_BAD_INPUT)
    try:
        plan = ChaosPlan(
            orders=orders,
            concurrency=concurrency,
            faults=_fault_spec(faults),
            workers=workers,
            kill_every_s=kill_every,
            restart_server=restart_server,
            seed=seed,
            outage=planned_outage,
            cancel_every=cancel_every,
            large_share=large_share,
            review_share=review_share,
            review_deadline_s=review_deadline,
            reject_share=reject_share,
            expire_share=expire_share,
            pollers=pollers,
            streams=streams,
            resets=resets,
        )
    except InvalidPlan as err:
        fail(f"{err}.", EXIT_BAD_INPUT)
    if not _run(run_chaos_command(plan, json_file)):
        raise typer.Exit(EXIT_PROBLEM)


@reconcile_app.command("schedule")
def reconcile_schedule(
    every: Annotated[str, typer.Option("--every", help="Interval between runs: 30s, 5m, 1h")] = "5m",
) -> None:
    """Create the reconciler's Temporal Schedule (cadenza-reconcile) on the configured cluster, or update it:
    running it again is safe and keeps a paused schedule paused."""
    from clients.reconcile_schedule import SCHEDULE_ID, ensure_reconcile_schedule
    from starters.reconcile.command import parse_duration
    from workflows.reconcile_models import short_duration

    async def main() -> None:
        interval = parse_duration("--every", every, allow_zero=False)
        client = await connect()
        task_queue = settings().task_queue
        result = await ensure_reconcile_schedule(client, task_queue=task_queue, every=interval)
        console.print(
            f"Schedule {SCHEDULE_ID} {result}: a reconcile run every {short_duration(interval)} on task queue "
            f"{task_queue}.\nWeb UI: {web_ui_base()}/namespaces/{client.namespace}/schedules/{SCHEDULE_ID}"
        )

    _run(main())


@reconcile_app.command("run")
def reconcile_run(
    window: Annotated[str, typer.Option("--window", help="Orders started or changed within: 30m, 24h, 7d")] = "24h",
    grace: Annotated[str, typer.Option("--grace", help="Leave orders that closed or changed more recently")] = "2m",
    prefix: Annotated[str, typer.Option("--prefix", help="Only orders whose id starts with this")] = "",
) -> None:
    """Run the reconciler once now (needs a worker: `cadenza up` or `cadenza worker`) and print what it repaired
    and what it left for a person; exit 1 if something is left."""
    from activities.order_runs import checked_prefix
    from starters.reconcile.command import parse_duration, print_report, run_once
    from workflows.reconcile_models import ReconcileInput

    async def main() -> bool:
        params = ReconcileInput(
            window=parse_duration("--window", window, allow_zero=False),
            grace=parse_duration("--grace", grace),
            prefix=checked_prefix(prefix),  # before a run starts: its query would fail run after run
        )
        client = await connect()
        with console.status(f"Reconciling: waiting for a worker on task queue {settings().task_queue} to run it…"):
            workflow_id, report = await run_once(client, params)
        print_report(report, workflow_ui_link(client.namespace, workflow_id))
        return report.clean

    if not _run(main()):
        raise typer.Exit(EXIT_PROBLEM)


def _share(flag: str, help: str) -> Any:
    """A chaos option that is a share of some orders: from none (0) to all (1)."""
    return typer.Option(flag, min=0, max=1, help=help)


def _some_orders(flag: str, help: str) -> Any:
    """A chaos option that is a number of orders an actor works on."""
    return typer.Option(flag, min=0, help=f"{help}; 0: none")


def _fault_spec(spec: str | None) -> dict:
    from starters.faultspec import InvalidFaultSpec, parse_fault_spec

    try:
        return parse_fault_spec(spec or "")
    except InvalidFaultSpec as err:
        fail(f"--faults: {err}", EXIT_BAD_INPUT)


@app.command()
def replay(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="History files or folders of them; none: the server's executions")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", help="Visibility query, e.g. 'WorkflowType=\"OrderWorkflow\"'")
    ] = None,
    since: Annotated[
        str,
        typer.Option(
            "--since", help="Without --query: closed executions started within (30m, 12h, 7d), and every open one"
        ),
    ] = "7d",
    workers: Annotated[
        int, typer.Option("--workers", "-j", min=1, help="Replay processes (default: one per core)")
    ] = default_workers(),
) -> None:
    """Replay histories against the current workflow code: from files, or open and closed executions from the
    server. Exit 1 if the code cannot replay one of them (a non-deterministic change), 2 if a file given is not a
    history."""

    async def main() -> ReplayReport:
        if paths:
            source = histories_from_files(paths)
        else:
            source = await histories_from_server(await connect(), query or default_query(parse_since(since)))
        with replay_progress(console, source.total, source.description) as advance:
            return await replay_histories(source.items, total=source.total, workers=workers, on_replayed=advance)

    report = _run(main())
    console.print(summary(report))
    if report.failures:
        console.print(failures_table(report.failures))
        message, code = _replay_verdict(report)
        fail(message, code)


def _replay_verdict(report: ReplayReport) -> tuple[str, int]:
    """What the failures say, and the exit code: the code at fault (1), histories encrypted with a key this process
    lacks (1: not replayed, nothing said about the code), files that are no history (2)."""
    unreadable = sum(failure.unreadable for failure in report.failures)
    keyless = sum(failure.key_missing for failure in report.failures)
    broken = len(report.failures) - unreadable - keyless
    notes = []
    if keyless:
        notes.append(
            f"{keyless} of the histories {'is' if keyless == 1 else 'are'} encrypted with a key this process does not "
            f"hold and {'was' if keyless == 1 else 'were'} not replayed: give it that key (named above; for the "
            "committed tests/histories, CADENZA_ENCRYPTION_KEYS_FILE=tests/test-only-encryption-keys)"
        )
    if unreadable:
        notes.append(
            f"{unreadable} of the files given {'is' if unreadable == 1 else 'are'} not a workflow history exported "
            "as JSON (`temporal workflow show --output json`, `cadenza replay-record`): fix or leave out"
        )
    if broken:
        return (
            f"{broken} of {report.replayed} histories cannot be replayed by this code: a worker running it would get "
            "stuck on those executions. Guard the change with workflow.patched() (docs/change-safety.md), or revert "
            "it." + "".join(f" Also, {note}." for note in notes),
            EXIT_PROBLEM,
        )
    return "; ".join(notes) + ", then replay again.", EXIT_PROBLEM if keyless else EXIT_BAD_INPUT


@app.command("replay-record")
def replay_record(
    out: Annotated[Path, typer.Option("--out", help="Folder for the history files")] = DEFAULT_OUT,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace histories already in the folder")] = False,
    sagas: Annotated[
        bool, typer.Option("--sagas", help=f"Record the declared example sagas' runs instead (into {DEFAULT_SAGA_OUT})")
    ] = False,
) -> None:
    """Play every scenario (demo ones, cancelled, large, needs_attention) and save each execution's history as JSON
    for the replay tests. Uses a running stack, or starts one for its duration. Record before changing the workflow."""
    if sagas:
        _record_sagas(DEFAULT_SAGA_OUT if out == DEFAULT_OUT else out, overwrite=overwrite)
        return

    async def main() -> list[Path]:
        check_out_folder(out, overwrite=overwrite)
        async with stack_for_command() as client, httpx.AsyncClient(timeout=10) as http:
            with console.status("Recording…") as status:
                recorder = Recorder(
                    client, http, out, overwrite=overwrite, on_progress=lambda m: status.update(m + "…")
                )
                return await recorder.record()

    written = _run(main())
    console.print(f"Recorded {len(written)} histories in {out}:\n" + "\n".join(f"  {path.name}" for path in written))
    console.print(f"Check they replay with `cadenza replay {out}`, then commit them.")


def _record_sagas(out: Path, *, overwrite: bool) -> None:
    async def main() -> list[Path]:
        async with stack_for_command() as client, httpx.AsyncClient(timeout=10) as http:
            endpoints = {name: service_endpoint(name) for name in ALL_SERVICE_NAMES}
            with console.status("Recording…") as status:
                recorder = SagaRecorder(
                    client, FaultAdmin(http, endpoints), out, overwrite=overwrite, on_progress=status.update
                )
                return await recorder.record()

    written = _run(main())
    console.print(f"Recorded {len(written)} saga histories in {out}:\n" + "\n".join(f"  {p.name}" for p in written))
    console.print(f"Check they replay with `cadenza replay {out}`, then commit them.")


@app.command()
def bench(
    sequential: Annotated[int, typer.Option("--sequential", help="Orders placed one at a time (latency)")] = 50,
    burst: Annotated[int, typer.Option("--burst", help="Orders started at once (throughput, CPU, memory)")] = 500,
    curve: Annotated[
        str | None, typer.Option("--curve", help="Levels of orders started at once, e.g. 10,100,1000 (cadenza profile)")
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", help=f"{', '.join(PROFILES)}; repeatable (default: {', '.join(DEFAULT_PROFILES)})"),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Unmeasured orders first, per profile")] = 5,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write every figure to this file", callback=report_file)
    ] = None,
    profile_worker: Annotated[
        Path | None,
        typer.Option(
            "--profile-worker", help="Write the cadenza worker's CPU by part here (py-spy)", callback=report_file
        ),
    ] = None,
) -> None:
    """Measure what orchestration costs: the same order's HTTP calls made directly, by the barest Temporal workflow
    (Temporal's floor), by Cadenza as shipped, through its Order API and by an untuned sample-style setup, each on a
    stack of its own (temporary folder, free ports; never your data)."""
    from starters.bench.command import bench_command

    bench_command(
        sequential=sequential,
        burst=burst,
        warmup=warmup,
        curve=curve,
        profiles=profile or [],
        json_file=json_file,
        profile_worker=profile_worker,
    )


def main() -> None:
    run_and_exit(app)


if __name__ == "__main__":
    main()
