"""What the services must have recorded for an order, given how its workflow ended.

Used by `cadenza demo` to prove each scenario, and by the integration tests; it is the per-order half of an audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from starters.records import OrderRecords
from workflows.models import OrderState


def inconsistencies(state: OrderState, total_amount: int, records: OrderRecords) -> list[str]:
    """Every way `records` contradict an order that ended in `state`; empty when they agree."""
    problems: list[str] = []
    erp_status = records.erp_order["status"] if records.erp_order else None
    live = records.live_charges
    if len(records.succeeded_charges) > 1:
        problems.append(f"charged {len(records.succeeded_charges)} times (double charge)")
    if state == OrderState.COMPLETED:
        if erp_status != "confirmed":
            problems.append(f"ERP order is {erp_status or 'missing'}, expected confirmed")
        if len(live) != 1:
            problems.append(f"{len(live)} live charges, expected exactly 1")
        elif live[0]["amount"] != total_amount:
            problems.append(f"charged {live[0]['amount']}, expected {total_amount}")
        committed = records.reservations_in("committed")
        if len(committed) != 1 or records.reservations_in("held"):
            problems.append(f"reservations {[r['status'] for r in records.reservations]}, expected one committed")
    elif state == OrderState.COMPENSATED:
        if erp_status not in (None, "cancelled"):
            problems.append(f"ERP order is {erp_status}, expected cancelled or absent")
        if live:
            problems.append(f"charge(s) {', '.join(c['id'] for c in live)} not refunded")
        if held := records.reservations_in("held", "committed"):
            problems.append(f"reservation(s) {', '.join(r['id'] for r in held)} still hold stock")
    else:
        problems.append(f"order is still {state}, expected it to have finished")
    return problems


def stock_inconsistencies(stock: Mapping[str, Mapping[str, Any]], reservations: Iterable[Mapping[str, Any]]) -> list[str]:
    """Stock on hand must equal the seed minus what committed reservations shipped, whatever else is in flight:
    released reservations (compensations) must have put back everything they took."""
    shipped: dict[str, int] = {}
    for reservation in reservations:
        if reservation["status"] == "committed":
            for line in reservation["lines"]:
                shipped[line["sku"]] = shipped.get(line["sku"], 0) + line["quantity"]
    return [
        f"stock of {sku} is {row['on_hand']}, expected {row['seed_quantity'] - shipped.get(sku, 0)} "
        f"(seed {row['seed_quantity']} minus {shipped.get(sku, 0)} shipped)"
        for sku, row in stock.items()
        if row["on_hand"] != row["seed_quantity"] - shipped.get(sku, 0)
    ]
