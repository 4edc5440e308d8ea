"""Checks an order must pass before its workflow starts, beyond what the model itself validates."""

from __future__ import annotations

from cadenza.settings import ServiceEndpoint
from clients.catalogue import check_once
from clients.orders import InvalidOrder
from starters.console import errors
from workflows.models import Order


async def check_skus_exist(order: Order, inventory: ServiceEndpoint | None = None) -> None:
    """Refuse SKUs the inventory does not stock, naming the line, so nothing is charged for an impossible order.

    If the inventory cannot be asked, say so and go on (clients/catalogue.py says why)."""
    check = await check_once(order, inventory)
    if check.unavailable is not None:
        errors.print(
            f"[yellow]warning:[/] could not check SKUs against the inventory ({check.unavailable}); "
            "placing the order anyway"
        )
    if check.unknown:
        known = check.known or frozenset()
        lines = "\n".join(f"  - {unknown.field}: {unknown.message}" for unknown in check.unknown)
        raise InvalidOrder(f"order refused:\n{lines}\n  (known SKUs: {', '.join(sorted(known))})")
