"""The `cadenza` command. Each command is a thin shell over a module that does the work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import httpx
import typer
from rich.live import Live

from cadenza.binaries import BinaryNotFound
from cadenza.connection import TemporalUnavailable, connect
from cadenza.processes import PortInUse
from cadenza.settings import workflow_ui_link
from cadenza.signals import run_until_signalled
from cadenza.stack import StackConfig
from starters.console import EXIT_BAD_INPUT, EXIT_PROBLEM, console, fail
from starters.demo import Demo
from starters.orders import (
    InvalidOrder,
    OrderNotFound,
    describe_order,
    load_order,
    order_handle,
    order_json,
    place_order,
    wait_for_result,
)
from starters.stack_session import stack_for_command
from starters.status_view import status_panel
from starters.up import run_stack

app = typer.Typer(
    help="Cadenza: order fulfilment orchestrated by Temporal across ERP, payment and inventory APIs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
order_app = typer.Typer(help="Place, inspect and cancel orders.", no_args_is_help=True)
app.add_typer(order_app, name="order")

T = TypeVar("T")


def _run(coro: Awaitable[T]) -> T:
    """Run a command's coroutine, turning the errors a user can act on into one clear line each."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except (TemporalUnavailable, PortInUse, BinaryNotFound, OrderNotFound) as err:
        fail(str(err))
    except InvalidOrder as err:
        fail(f"{err}\nNothing was started. Fix the file and place it again.", EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _run_signalled(main: Callable[[asyncio.Event], Awaitable[int]]) -> None:
    try:
        code = run_until_signalled(main)
    except (PortInUse, BinaryNotFound, TemporalUnavailable) as err:
        fail(str(err))
    raise typer.Exit(code)


@app.command()
def up() -> None:
    """Run the embedded stack in the foreground: Temporal dev server + Web UI, the three services, one worker."""
    _run_signalled(lambda stop: run_stack(StackConfig.from_settings(), stop))


@app.command()
def services() -> None:
    """Run only the three simulated services (ERP, payment, inventory) in the foreground."""
    config = StackConfig.from_settings().with_(with_worker=False)
    _run_signalled(lambda stop: run_stack(config, stop, services_only=True))


@app.command()
def worker() -> None:
    """Run one worker against the configured Temporal (TEMPORAL_ADDRESS etc.); start more to scale out."""
    from workers.worker import main as worker_main

    worker_main()


@app.command()
def demo() -> None:
    """Place one order per scenario (happy, declined card, out of stock, flaky payment, duplicate) and check each
    against the services' own records. Starts the embedded stack if it is not running. Exit 0 only if all pass."""

    async def main() -> bool:
        async with stack_for_command() as client, httpx.AsyncClient(timeout=10) as http:
            demo = Demo(client, http)
            with Live(console=console, refresh_per_second=8) as live:
                await demo.run(live)
            console.print("Each order in the Temporal Web UI:\n" + demo.links())
            for problem in demo.stock_problems:
                console.print(f"[red]✗ {problem}[/]")
            return demo.passed

    if not _run(main()):
        fail("some scenarios did not end as expected (see the check column); logs are in .cadenza/logs")
    console.print("[green]Every scenario ended as expected[/], and the services' records agree.")


@order_app.command("place")
def order_place(
    file: Annotated[Path, typer.Argument(help="Order as JSON, e.g. examples/order.json")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the outcome and print the OrderResult as JSON")] = False,
) -> None:
    """Validate an order and start its workflow. Placing the same order id again starts nothing new."""
    order = _run(_load(file))

    async def main() -> None:
        client = await connect()
        placed = await place_order(client, order)
        link = workflow_ui_link(client.namespace, order.workflow_id)
        note = "already placed; nothing new started" if placed.duplicate else "placed"
        if not wait:
            console.print(f"Order {order.order_id} {note}: {order.describe()}\nWeb UI: {link}")
            return
        typer.echo(f"Order {order.order_id} {note}; waiting for the outcome… (Web UI: {link})", err=True)
        print(order_json(await wait_for_result(placed.handle)))

    _run(main())


async def _load(file: Path):  # noqa: ANN202 - async only so that _run reports its errors
    return load_order(file)


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
        await describe_order(client, order_id)  # a clear error for an unknown id
        await order_handle(client, order_id).cancel()
        console.print(f"Cancellation requested for {order_id}; its steps are being compensated. "
                      f"Follow it with `cadenza order status {order_id}`.")

    _run(main())


@order_app.command("retry-compensation")
def order_retry_compensation(order_id: Annotated[str, typer.Argument(help="The order id")]) -> None:
    """Resume an order in needs_attention: retry its failed compensations (after fixing their cause)."""
    from workflows.order import OrderWorkflow

    async def main() -> None:
        client = await connect()
        await describe_order(client, order_id)
        try:
            await order_handle(client, order_id).execute_update(OrderWorkflow.retry_compensation)
        except Exception as err:  # the validator's refusal arrives as a WorkflowUpdateFailedError
            fail(f"cannot retry compensations of {order_id}: {getattr(err, 'cause', None) or err}")
        console.print(f"Retrying the failed compensations of {order_id}.")

    _run(main())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
