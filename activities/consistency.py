"""What the services must have recorded for an order, given how its workflow ended.

Used by `cadenza demo` to prove each scenario, and by the integration tests; it is the per-order half of an audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from activities.records import OrderRecords
from workflows.models import OrderState


def inconsistencies(state: OrderState, total_amount: int, records: OrderRecords) -> list[str]:
    """Every way `records` contradict an order that ended in `state`; empty when they agree."""
    problems: list[str] = []
    erp_status = records.erp_order["status"] if records.erp_order else None
    live = records.live_charges
    problems += duplicate_charges(records)
    if state == OrderState.COMPLETED:
        if erp_status != "confirmed":
            problems.append(f"ERP order is {erp_status or 'missing'}, expected confirmed")
        if len(live) != 1:
            problems.append(f"{len(live)} live charges, expected exactly 1")
        elif (kept := net_amount(live[0])) != total_amount:
            # Net of refunds: a partial refund of a completed order leaves a live charge for less than the total.
            problems.append(
                f"charge {live[0]['id']} keeps {kept} ({live[0]['amount']} charged, {live[0]['amount_refunded']} "
                f"refunded), expected {total_amount}"
            )
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
    elif state == OrderState.AWAITING_REVIEW:
        # Open, and rightly so (a person has until the deadline): created at the ERP, nothing charged or reserved yet.
        if erp_status != "pending":
            problems.append(f"ERP order is {erp_status or 'missing'}, expected pending while the order awaits review")
        if records.succeeded_charges:
            problems.append(
                f"charged ({', '.join(c['id'] for c in records.succeeded_charges)}) before the review decided"
            )
        if records.reservations:
            problems.append(f"reservations {[r['status'] for r in records.reservations]} before the review decided")
    else:
        problems.append(f"order is still {state}, expected it to have finished")
    return problems


def duplicate_charges(records: OrderRecords) -> list[str]:
    """An order is charged once; a second charge is a problem even once refunded (the customer saw it)."""
    charged = len(records.succeeded_charges)
    return [f"charged {charged} times (double charge)"] if charged > 1 else []


def fulfilment_begun(records: OrderRecords) -> bool:
    """Whether the order's records show a step that hands goods over: its ERP order confirmed, or stock committed
    (shipped). Up to there an order can be undone by a program; past it, only by a person who knows what shipped."""
    erp_status = records.erp_order["status"] if records.erp_order else None
    return erp_status == "confirmed" or bool(records.reservations_in("committed"))


def fulfilled(records: OrderRecords) -> bool:
    """Whether the order's own records show it fulfilled, whatever Temporal says (or has forgotten) about it: its ERP
    order confirmed, its stock committed and none held, and a live charge keeping at least the ERP order's total."""
    erp = records.erp_order
    return (
        erp is not None
        and erp["status"] == "confirmed"
        and len(records.reservations_in("committed")) == 1
        and not records.reservations_in("held")
        and any(net_amount(charge) >= erp["total_amount"] for charge in records.live_charges)
    )


def live_records(records: OrderRecords) -> list[str]:
    """What of the order still holds money, stock or an ERP order open."""
    live = [f"charge {c['id']} not refunded" for c in records.live_charges]
    if records.erp_order and records.erp_order["status"] in ("pending", "confirmed"):
        live.append(f"ERP order {records.erp_order['status']}")
    live += [f"reservation {r['id']} {r['status']}" for r in records.reservations_in("held", "committed")]
    return live


def net_amount(charge: Mapping[str, Any]) -> int:
    """What a charge keeps of the customer's money once its refunds are taken off."""
    amount: int = charge["amount"] - charge["amount_refunded"]
    return amount


def stock_inconsistencies(
    stock: Mapping[str, Mapping[str, Any]], reservations: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Every SKU's counters must agree with the reservations, whatever else is in flight:
    - on hand = seed minus what committed reservations shipped (released ones put back everything they took);
    - reserved = what held reservations set aside (a release or commit that forgot the counter leaves stock that
      can never be sold, or sells stock that is promised)."""
    reservations = list(reservations)
    shipped, held = _quantities(reservations, "committed"), _quantities(reservations, "held")
    problems = []
    for sku, row in stock.items():
        expected_on_hand = row["seed_quantity"] - shipped.get(sku, 0)
        if row["on_hand"] != expected_on_hand:
            problems.append(
                f"stock of {sku} is {row['on_hand']}, expected {expected_on_hand} "
                f"(seed {row['seed_quantity']} minus {shipped.get(sku, 0)} shipped)"
            )
        if row["reserved"] != held.get(sku, 0):
            problems.append(
                f"reserved stock of {sku} is {row['reserved']}, but held reservations set aside {held.get(sku, 0)}"
            )
    return problems


def _quantities(reservations: Iterable[Mapping[str, Any]], status: str) -> dict[str, int]:
    """Units per SKU over the reservations in `status`."""
    units: dict[str, int] = {}
    for reservation in reservations:
        if reservation["status"] == status:
            for line in reservation["lines"]:
                units[line["sku"]] = units.get(line["sku"], 0) + line["quantity"]
    return units
