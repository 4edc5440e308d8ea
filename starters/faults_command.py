"""`cadenza faults`: make a running stack's simulated services misbehave on purpose, and heal them again.

For practice: `cadenza faults refuse payment --match refund_payment` makes every refund compensation fail for good,
so the next order that is compensated waits in `needs_attention` within seconds (real services would need a
compensation failing for 30 minutes); `cadenza faults clear payment` fixes the "fault", and `cadenza order
retry-compensation ID` (or the Order API's `POST /orders/{id}/retry-compensation`) heals the order. docs/operations.md,
"Practising needs_attention".
"""

from __future__ import annotations

import asyncio
import json
from enum import Enum
from typing import Annotated, Any, get_args

import httpx
import typer

from cadenza.errors import CadenzaError
from cadenza.faults import IdempotencyMisbehaviour
from cadenza.settings import ALL_SERVICE_NAMES
from starters.console import console
from starters.faults import FaultAdmin

faults_app = typer.Typer(
    help="Make the running stack's simulated services misbehave (practice, demos), and heal them.",
    no_args_is_help=True,
)

Service = Enum("Service", {name: name for name in ALL_SERVICE_NAMES}, type=str)  # type: ignore[misc]
_SERVICE = typer.Argument(help="The simulated service", metavar="SERVICE")
KEY_HANDLING_OFF = "off"
KeyHandling = Enum(  # type: ignore[misc]
    "KeyHandling", {mode: mode for mode in (*get_args(IdempotencyMisbehaviour), KEY_HANDLING_OFF)}, type=str
)


def _admin(call: Any) -> Any:
    async def main() -> Any:
        async with httpx.AsyncClient(timeout=10) as http:
            return await call(FaultAdmin(http))

    try:
        return asyncio.run(main())
    except httpx.HTTPError as err:
        raise CadenzaError(
            f"the service's fault admin (/admin/faults) did not accept the call: {err}",
            next_step="Start the stack (`cadenza up`) or check CADENZA_<SERVICE>_URL.",
        ) from None


@faults_app.command("show")
def show(service: Annotated[Service, _SERVICE]) -> None:
    """Print the service's fault configuration as JSON (what is left of its scripted faults included)."""
    print(json.dumps(_admin(lambda admin: admin.get(service.value)), indent=2))


@faults_app.command("refuse")
def refuse(
    service: Annotated[Service, _SERVICE],
    match: Annotated[
        str,
        typer.Option(
            "--match",
            metavar="TEXT",
            help="Refuse the requests whose idempotency key or path contains this, e.g. refund_payment (the payment "
            "service's refund compensation), release_inventory, cancel_erp_order",
        ),
    ],
    times: Annotated[
        int,
        typer.Option("--times", min=1, max=1_000_000, metavar="N", help="Refuse this many (default: until cleared)"),
    ] = 1_000_000,
) -> None:
    """Answer the matching requests 409 `refused` (final: not retried, nothing applied) until cleared. Aimed at a
    compensation, the next order compensated waits in needs_attention."""
    _admin(lambda admin: admin.script(service.value, "refuse", times=times, match=match))
    console.print(
        f"{service.value} refuses requests matching {match!r} until `cadenza faults clear {service.value}`. An order "
        "whose compensation is refused waits in needs_attention: clear the fault, then `cadenza order "
        "retry-compensation ID`."
    )


@faults_app.command("clear")
def clear(
    service: Annotated[Service, _SERVICE],
    match: Annotated[
        str | None,
        typer.Option("--match", metavar="TEXT", help="Drop only the scripted faults given with this --match"),
    ] = None,
) -> None:
    """Make the service healthy again: no fault of any kind, scripted or random (or only the scripted faults of one
    --match)."""
    if match is None:
        _admin(lambda admin: admin.set(service.value, {}))
        console.print(f"{service.value} is healthy again (no faults).")
        return
    _admin(lambda admin: admin.unscript(service.value, match))
    console.print(f"{service.value} no longer refuses or fails requests matching {match!r}.")


@faults_app.command("idempotency")
def idempotency(
    service: Annotated[Service, _SERVICE],
    mode: Annotated[
        KeyHandling,
        typer.Argument(
            metavar="MODE",
            help="ignore_keys, replay_successes_only, concurrent_duplicates, reuse_executes, key_ignores_path; "
            "or off (correct key handling again)",
        ),
    ],
) -> None:
    """Switch the service's idempotency-key handling to one of the ways real APIs get it wrong, so that `cadenza
    verify` can be seen to catch it (docs/downstream-contract.md); `off` restores the correct handling. Other faults
    stay as they are."""

    async def switch(admin: FaultAdmin) -> None:
        config = await admin.get(service.value)
        config["idempotency"] = None if mode.value == KEY_HANDLING_OFF else mode.value
        await admin.set(service.value, config)

    _admin(switch)
    if mode.value == KEY_HANDLING_OFF:
        console.print(f"{service.value} handles idempotency keys correctly again.")
    else:
        console.print(
            f"{service.value} now handles keys as {mode.value!r}: `cadenza verify examples/verify/services.yaml` "
            f"should fail on it. Undo with `cadenza faults idempotency {service.value} off`."
        )
