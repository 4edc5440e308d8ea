"""What the reconciler does about each order: plain functions, no I/O, so every rule is tested directly.

An order is judged by the audit's own rules (starters.audit.order_problems), against the records as they would be
once the safe repairs are made. Safe means idempotent and undoing only money or stock that no live order needs:
- a live charge of an order that ended compensated or cancelled, or of an order Temporal never saw → refund it;
- a second live charge of a completed order (one live charge for the total is kept) → refund it;
- a held or committed reservation of a compensated order → release it;
- a pending or confirmed ERP order of a compensated order → cancel it.
Everything else that is wrong is raised for a person, never guessed at: a completed order without a live charge, an
ERP order left pending by a completed order, an order that was terminated half-way, stock that does not add up.

What is left alone: open orders (running, compensating, needs_attention: their own workflow owns them) and orders
that closed or whose records changed within the grace period (a request may still be landing). What is judged is
what is *live*: a double charge already refunded is history, reported by `cadenza audit`, not raised here again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from starters.audit import OrderOutcome, order_problems
from starters.consistency import stock_inconsistencies
from starters.records import OrderRecords
from workflows.models import OrderState
from workflows.reconcile_models import MAX_LISTED, Finding, Repair, RepairAction, Survey, short_duration

NEVER_SEEN = "never seen"
_LIVE_ERP = ("pending", "confirmed")
_HOLDING = ("held", "committed")


@dataclass(frozen=True)
class OrderView:
    """What Temporal says about one order."""

    order_id: str
    outcome: OrderOutcome | None
    """How its execution ended (starters.audit.order_outcome); None when Temporal never saw the order."""
    open: bool = False
    closed_at: datetime | None = None
    started_at: datetime | None = None
    """When its current run started: records created earlier are not its own (see `_undo_everything`)."""

    @property
    def judged_as(self) -> str:
        return NEVER_SEEN if self.outcome is None else self.outcome.description


@dataclass
class Plan:
    orders: int = 0
    open_orders: int = 0
    deferred: int = 0
    repairs: list[Repair] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)


def last_change(records: OrderRecords) -> datetime | None:
    """When the services last wrote anything for the order."""
    return _latest(_stamps(records.charges + records.reservations + ([records.erp_order] if records.erp_order else [])))


def plan_reconciliation(
    views: Iterable[OrderView],
    records: Mapping[str, OrderRecords],
    *,
    now: datetime,
    grace: timedelta,
    retention: timedelta | None = None,
) -> Plan:
    """`retention`: the namespace's; an order whose records are older may have had its execution deleted, so
    "Temporal never saw it" is no longer known, and its charges are not refunded on that ground."""
    plan = Plan()
    for view in sorted(views, key=lambda v: v.order_id):
        order_records = records.get(view.order_id) or OrderRecords(view.order_id, None, [], [])
        if view.open:
            plan.open_orders += 1
            continue
        settled = _latest([stamp for stamp in (view.closed_at, last_change(order_records)) if stamp is not None])
        if settled is not None and settled > now - grace:
            plan.deferred += 1
            continue
        plan.orders += 1
        if view.outcome is None and retention is not None and (settled is None or settled < now - retention):
            plan.problems.append(Finding(order_id=view.order_id, message=(
                f"Temporal has no execution of it and its records are older than the namespace's retention "
                f"({short_duration(retention)}): its execution may have been deleted; check it by hand")))
            continue
        repairs, problems = judge(view, order_records)
        plan.repairs += repairs
        plan.problems += [Finding(order_id=view.order_id, message=message) for message in problems]
    return plan


def judge(view: OrderView, records: OrderRecords) -> tuple[list[Repair], list[str]]:
    """The safe repairs for one settled, closed (or never seen) order, and what stays wrong once they are made."""
    outcome = view.outcome
    if outcome is None:
        repairs = [_repair(RepairAction.REFUND_CHARGE, view, c["id"], "charge of an order Temporal never saw")
                   for c in records.live_charges]
        left = _live_leftovers(after_repairs(records, repairs))
        if not left:
            return repairs, []
        return repairs, [f"services hold live records of an order Temporal never saw: {', '.join(left)}"]
    if outcome.state == OrderState.COMPENSATED:
        repairs = _undo_everything(view, records)
    elif outcome.state == OrderState.COMPLETED and outcome.total_amount is not None:
        repairs = _refund_extra_charges(view, records, outcome.total_amount)
    else:
        repairs = []
    return repairs, order_problems(outcome, _live_view(after_repairs(records, repairs)))


def _undo_everything(view: OrderView, records: OrderRecords) -> list[Repair]:
    """Only records created since the order's current run started are undone. An older one belongs to an earlier
    execution of the same order id (placed again after its execution was deleted: a completed order that must not be
    undone) or to the run before a reset: not for a program to tell apart, so it is left for the audit to raise."""
    why = f"order ended {view.judged_as}"
    ours = _since(view.started_at)
    repairs = [
        _repair(RepairAction.REFUND_CHARGE, view, c["id"], f"live charge; {why}") for c in records.live_charges if ours(c)
    ]
    repairs += [
        _repair(RepairAction.RELEASE_RESERVATION, view, r["id"], f"reservation {r['status']}; {why}")
        for r in records.reservations_in(*_HOLDING)
        if ours(r)
    ]
    if records.erp_order and records.erp_order["status"] in _LIVE_ERP and ours(records.erp_order):
        status = records.erp_order["status"]
        repairs.append(_repair(RepairAction.CANCEL_ERP_ORDER, view, view.order_id, f"ERP order {status}; {why}"))
    return repairs


def _refund_extra_charges(view: OrderView, records: OrderRecords, total: int) -> list[Repair]:
    """Keep the oldest live charge for the order's total, refund the other live ones. With no live charge for the
    total, which one is right is not for a program to guess: nothing is refunded and the audit's finding is raised."""
    live = records.live_charges
    kept = next((c for c in live if c["amount"] == total), None)
    if kept is None or len(live) < 2:
        return []
    why = f"second live charge of a completed order (kept {kept['id']})"
    return [_repair(RepairAction.REFUND_CHARGE, view, c["id"], why) for c in live if c is not kept]


def _since(started_at: datetime | None) -> Callable[[Mapping[str, Any]], bool]:
    def created_since(record: Mapping[str, Any]) -> bool:
        return started_at is None or datetime.fromisoformat(record["created_at"]) >= started_at

    return created_since


def _repair(action: RepairAction, view: OrderView, target: str, reason: str) -> Repair:
    return Repair(action=action, order_id=view.order_id, target=target, reason=reason, judged_as=view.judged_as)


def after_repairs(records: OrderRecords, repairs: Iterable[Repair]) -> OrderRecords:
    """The records as the services will hold them once `repairs` are made."""
    targets: dict[RepairAction, set[str]] = {action: set() for action in RepairAction}
    for repair in repairs:
        targets[repair.action].add(repair.target)
    erp = records.erp_order
    if erp is not None and erp["order_id"] in targets[RepairAction.CANCEL_ERP_ORDER]:
        erp = {**erp, "status": "cancelled"}
    return replace(
        records,
        erp_order=erp,
        charges=[
            {**c, "amount_refunded": c["amount"], "refunded": True}
            if c["id"] in targets[RepairAction.REFUND_CHARGE] else c
            for c in records.charges
        ],
        reservations=[
            {**r, "status": "released"} if r["id"] in targets[RepairAction.RELEASE_RESERVATION] else r
            for r in records.reservations
        ],
    )


def _live_view(records: OrderRecords) -> OrderRecords:
    """Without the charges fully refunded: they took no money in the end, so only the audit reports them."""
    refunded = {c["id"] for c in records.succeeded_charges if c["refunded"]}
    return replace(records, charges=[c for c in records.charges if c["id"] not in refunded])


def _live_leftovers(records: OrderRecords) -> list[str]:
    left = [f"charge {c['id']} not refunded" for c in records.live_charges]
    if records.erp_order and records.erp_order["status"] in _LIVE_ERP:
        left.append(f"ERP order {records.erp_order['status']}")
    left += [f"reservation {r['id']} {r['status']}" for r in records.reservations_in(*_HOLDING)]
    return left


def stock_findings(
    stock: Mapping[str, Mapping[str, Any]], reservations: list[dict[str, Any]], *, now: datetime, grace: timedelta
) -> tuple[list[Finding], list[str]]:
    """The stock invariant, only when no reservation changed within the grace period: the stock and the reservations
    are read one after the other, and a reservation committed in between would look like missing stock. (Read the
    stock first: a commit between the reads then shows up as a recent change and skips the check.)"""
    changed = _latest(_stamps(reservations))
    if changed is not None and changed > now - grace:
        return [], ["stock not checked: reservations changed within the grace period"]
    return [Finding(order_id="(stock)", message=m) for m in stock_inconsistencies(stock, reservations)], []


def survey_of(plan: Plan, *, max_repairs: int, stock: list[Finding], notes: list[str]) -> Survey:
    """The plan as the workflow receives it: bounded, so a result stays small whatever the services hold."""
    problems = plan.problems + stock
    return Survey(
        orders=plan.orders,
        open_orders=plan.open_orders,
        deferred=plan.deferred,
        repairs=plan.repairs[:max_repairs],
        repairs_postponed=max(0, len(plan.repairs) - max_repairs),
        problems=problems[:MAX_LISTED],
        problems_total=len(problems),
        notes=notes,
    )


def _stamps(items: Iterable[Mapping[str, Any]]) -> list[datetime]:
    return [datetime.fromisoformat(item[key]) for item in items for key in ("created_at", "updated_at") if key in item]


def _latest(stamps: list[datetime]) -> datetime | None:
    return max(stamps, default=None)
