"""Checks an order must pass before its workflow starts, beyond what the model itself validates."""

from __future__ import annotations

import httpx

from cadenza.settings import ServiceEndpoint, service_endpoint
from starters.console import errors
from clients.orders import InvalidOrder
from workflows.models import Order


async def check_skus_exist(order: Order, inventory: ServiceEndpoint | None = None) -> None:
    """Refuse SKUs the inventory does not stock, naming the line, so nothing is charged for an impossible order.

    If the inventory cannot be asked, say so and go on: the workflow itself refuses unknown SKUs at the
    reservation step (and compensates), so this is a courtesy, not the safety net."""
    inventory = inventory or service_endpoint("inventory")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            response = await http.get(f"{inventory.base_url}/stock", headers=inventory.auth_headers)
            response.raise_for_status()
    except httpx.HTTPError as err:
        errors.print(f"[yellow]warning:[/] could not check SKUs against the inventory ({err}); placing the order anyway")
        return
    known = {row["sku"] for row in response.json()["stock"]}
    unknown = [f"  - lines.{i}.sku: unknown SKU {line.sku!r}" for i, line in enumerate(order.lines) if line.sku not in known]
    if unknown:
        raise InvalidOrder("order refused:\n" + "\n".join(unknown) + f"\n  (known SKUs: {', '.join(sorted(known))})")
