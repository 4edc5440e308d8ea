"""`cadenza deploy status` and `cadenza deploy promote`: Worker Versioning from the CLI (docs/deploying.md,
"Versioned rollouts"). The server-side calls live in cadenza.deployment; this module decides, explains and renders.

Same as `temporal worker deployment describe --name cadenza` and `temporal worker deployment set-current-version
--deployment-name cadenza --build-id B` (or `set-ramping-version --percentage P`), plus what those leave to the
operator: which versions still have workers, and what happens to the orders in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from temporalio.client import Client
from temporalio.service import RPCError

from cadenza.connection import connect
from cadenza.deployment import (
    DeploymentError,
    DeploymentState,
    describe_deployment,
    route_to,
    routing_propagated,
    running_on,
)
from cadenza.settings import deployment_name
from starters.console import EXIT_BAD_INPUT, console, fail

PROMOTE_IDENTITY = "cadenza deploy promote"

deploy_app = typer.Typer(
    help="Worker Versioning: which builds run orders, and promoting a new one (docs/deploying.md).",
    no_args_is_help=True,
)

T = TypeVar("T")


class PromotionRefused(DeploymentError):
    """Promoting would send new orders where no worker takes them (or to a build the server does not know)."""


@dataclass(frozen=True)
class Promotion:
    """What `promote` did, for the operator: where new orders go now and what stays where it was."""

    deployment: str
    build_id: str
    previous_build_id: str | None
    in_flight_on_previous: int
    ramp_percentage: float | None = None
    already_current: bool = False
    propagated: bool = True
    """False if the task queues had not all taken the change after a few seconds (the server finishes it)."""


def _no_deployment(name: str) -> PromotionRefused:
    return PromotionRefused(
        f"There is no Worker Deployment {name!r} in this namespace yet: no versioned worker has polled. Start one "
        f"(`cadenza worker`, with CADENZA_DEPLOYMENT_NAME={name}), then run this again."
    )


async def deployment_status(client: Client, name: str) -> DeploymentState:
    state = await describe_deployment(client, name)
    if state is None:
        raise _no_deployment(name)
    return state


async def promote(
    client: Client, name: str, build_id: str, *, force: bool = False, ramp: float | None = None
) -> Promotion:
    """Make `build_id` the current version of deployment `name` (or, with `ramp`, send that % of new orders to it).

    Refused (`PromotionRefused`) when no worker of the build polls, unless `force`: new orders would wait for a worker
    that is not there. In-flight orders are never moved: OrderWorkflow is PINNED to the build it started on.
    """
    state = await describe_deployment(client, name)
    if state is None:
        raise _no_deployment(name)
    version = state.version(build_id)
    if version is None:
        known = ", ".join(v.build_id for v in state.versions) or "none"
        raise PromotionRefused(
            f"No worker of build {build_id!r} has ever polled deployment {name!r} (known builds: {known}). Start its "
            f"workers (CADENZA_BUILD_ID={build_id}), check `cadenza deploy status`, then promote again."
        )
    if ramp is None and state.current_build_id == build_id:
        return Promotion(name, build_id, build_id, 0, already_current=True)
    if not version.polled and not force:
        raise PromotionRefused(
            f"No worker of build {build_id!r} is polling: promoting it would leave new orders waiting for one. Start "
            f"its workers and check `cadenza deploy status` (column 'last poll'), or pass --force to promote anyway."
        )
    previous = state.current_build_id
    try:
        await route_to(
            client,
            name,
            build_id,
            ramp=ramp,
            conflict_token=state.conflict_token,
            allow_no_pollers=force,
            identity=PROMOTE_IDENTITY,
        )
    except RPCError as err:
        raise DeploymentError(
            f"The server refused to {'ramp' if ramp is not None else 'promote'} {build_id!r}: {err.message}. Check "
            "`cadenza deploy status` (another change may have come first) and try again."
        ) from err
    propagated = await routing_propagated(client, name)
    in_flight = await running_on(client, name, previous) if previous and previous != build_id else 0
    return Promotion(name, build_id, previous, in_flight, ramp_percentage=ramp, propagated=propagated)


# ---- rendering ----------------------------------------------------------------------------------------------------


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = max(0, int((now - moment).total_seconds()))
    return f"{seconds}s ago" if seconds < 120 else f"{seconds // 60}m ago"


_STATUS_STYLE = {"current": "bold green", "ramping": "yellow", "draining": "cyan", "drained": "dim"}


def status_table(state: DeploymentState, now: datetime | None = None) -> Table:
    now = now or datetime.now(UTC)
    ramping = f"{state.ramping_build_id} ({state.ramp_percentage:g} %)" if state.ramping_build_id else "none"
    table = Table(
        "build id",
        "status",
        "drainage",
        "workers",
        "last poll",
        "task queues",
        "created",
        title=f"Worker Deployment {state.name} — current: {state.current_build_id or 'none'}, ramping: {ramping}",
        title_justify="left",
    )
    for version in state.versions:
        style = _STATUS_STYLE.get(version.status, "")
        table.add_row(
            version.build_id,
            f"[{style}]{version.status}[/]" if style else version.status,
            version.drainage or "—",
            "polling" if version.polled else "[red]none[/]",
            _ago(version.last_poll, now),
            ", ".join(version.task_queues) or "—",
            version.created.strftime("%Y-%m-%d %H:%M:%S") if version.created else "—",
        )
    return table


def _status_notes(state: DeploymentState) -> list[str]:
    notes = []
    for version in state.versions:
        if version.drainage == "drained" and version.polled:
            notes.append(f"{version.build_id} is drained: nothing runs on it any more, its workers can be stopped.")
        if version.status in ("current", "ramping") and not version.polled:
            notes.append(
                f"[red]{version.build_id} receives new orders but no worker of it polls: start its workers.[/]"
            )
    return notes


def describe_promotion(done: Promotion) -> list[str]:
    name, build = done.deployment, done.build_id
    if done.already_current:
        return [f"{build} is already the current version of {name}: nothing changed."]
    if done.ramp_percentage is not None:
        lines = [
            f"{build} is ramping at {done.ramp_percentage:g} %: that share of new orders starts on it, the rest on "
            f"{done.previous_build_id or 'the current version'}. "
            f"Promote it fully with `cadenza deploy promote {build}`."
        ]
    else:
        lines = [f"{build} is now the current version of {name}: every new order starts on it."]
    if not done.propagated:
        lines.append("The server is still passing the change to the task queues; `cadenza deploy status` shows when.")
    if done.previous_build_id and done.previous_build_id != build:
        lines.append(
            f"{done.in_flight_on_previous} order(s) in flight on {done.previous_build_id} stay on it (OrderWorkflow is "
            f"PINNED) and finish there: keep its workers running until `cadenza deploy status` shows it drained, then "
            "stop them. Reconcile runs (AUTO_UPGRADE) move to the new build at their next step."
        )
    return lines


# ---- commands -----------------------------------------------------------------------------------------------------


def _run(work: Awaitable[T]) -> T:
    return asyncio.run(work)  # type: ignore[arg-type]


async def _status(name: str) -> DeploymentState:
    return await deployment_status(await connect(), name)


async def _promote(name: str, build_id: str, force: bool, ramp: float | None) -> Promotion:
    return await promote(await connect(), name, build_id, force=force, ramp=ramp)


_NAME_HELP = "Worker Deployment name (default: CADENZA_DEPLOYMENT_NAME, else 'cadenza')"


@deploy_app.command("status")
def status(name: Annotated[str | None, typer.Option("--name", help=_NAME_HELP)] = None) -> None:
    """The deployment's current and ramping version, and every version: drainage, and whether workers poll it."""
    state = _run(_status(name or deployment_name()))
    console.print(status_table(state))
    for note in _status_notes(state):
        console.print(note)


@deploy_app.command("promote")
def promote_command(
    build_id: Annotated[str, typer.Argument(help="The build id to make current (see `cadenza deploy status`)")],
    force: Annotated[bool, typer.Option("--force", help="Promote even if no worker of the build polls")] = False,
    ramp: Annotated[
        float | None, typer.Option("--ramp", help="Only ramp: send this percentage (0-100) of new orders to the build")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help=_NAME_HELP)] = None,
) -> None:
    """Make BUILD_ID the current version: new orders start on it; orders in flight stay on their build (PINNED)."""
    if ramp is not None and not 0 <= ramp <= 100:
        fail(
            f"--ramp {ramp:g}: give a percentage from 0 to 100 (0 stops sending new orders to the build).",
            EXIT_BAD_INPUT,
        )
    done = _run(_promote(name or deployment_name(), build_id, force, ramp))
    for line in describe_promotion(done):
        console.print(line)
