"""What the reconciler does about each order: plain functions, no I/O, so every rule is tested directly.

An order is judged by the audit's own rules (activities.audit.order_problems, and activities.audit.without_execution
for an order Temporal has no execution of), against the records as they would be once the safe repairs are made.
Safe means idempotent and undoing only money or stock that no live order needs:
- a live charge of an order that ended compensated or cancelled, or of an order Temporal has no execution of whose
  fulfilment never began → refund it;
- a second live charge of a completed order (one live charge for the total is kept) → refund it;
- a held or committed reservation of a compensated order → release it;
- a pending or confirmed ERP order of a compensated order → cancel it.
Nothing of an order whose own records show it fulfilled (ERP order confirmed, stock committed, a live charge for its
total) is ever undone, whatever its execution says, and nothing of an order whose fulfilment began while Temporal has
no execution of it: its execution may have been deleted (retention does that to closed ones), and only a person can
tell what shipped. A fulfilled order whose execution is gone is noted, not raised: there is nothing to do.
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

from activities.audit import OrderOutcome, order_problems, without_execution
from activities.consistency import fulfilled, fulfilment_begun, live_records, stock_inconsistencies
from activities.records import OrderRecords
from workflows.models import OrderState
from workflows.reconcile_models import MAX_LISTED, Finding, Repair, RepairAction, Survey, short_duration

NO_EXECUTION = "no execution"
_LIVE_ERP = ("pending", "confirmed")
_HOLDING = ("held", "committed")
FULFILLED_NOTE = "fulfilled; its execution is gone (retention or deletion): nothing to do"
# Per-order notes a run lists before it only counts them: a note says all is well, a finding is what needs reading.
MAX_NOTED = 20


@dataclass(frozen=True)
class ObservedOrder:
    """What Temporal says about one order."""

    order_id: str
    outcome: OrderOutcome | None
    """How its current run ended (activities.audit.order_outcome); None when Temporal has no execution of the order
    (never placed through Cadenza, or deleted)."""
    open: bool = False
    closed_at: datetime | None = None
    started_at: datetime | None = None
    """When its current run started: records created earlier are not its own (see `_undo_everything`)."""

    @property
    def judged_as(self) -> str:
        return NO_EXECUTION if self.outcome is None else self.outcome.description


@dataclass
class Plan:
    orders: int = 0
    open_orders: int = 0
    deferred: int = 0
    repairs: list[Repair] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    """What the reconciler does about one order."""

    repairs: list[Repair] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What stays wrong once the repairs are made: left for a person."""
    note: str | None = None
    """Nothing wrong, but worth an operator's knowing."""


def last_change(records: OrderRecords) -> datetime | None:
    """When the services last wrote anything for the order."""
    return _latest(_stamps(records.charges + records.reservations + ([records.erp_order] if records.erp_order else [])))


def plan_reconciliation(
    views: Iterable[ObservedOrder],
    records: Mapping[str, OrderRecords],
    *,
    now: datetime,
    grace: timedelta,
    retention: timedelta | None = None,
) -> Plan:
    """`retention`: the namespace's; an order whose records are older may have had its execution deleted before it
    finished, so "never placed" is no longer known, and its charges are not refunded on that ground."""
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
        older_than_retention = retention is not None and (settled is None or settled < now - retention)
        verdict = judge(view, order_records, past_retention=retention if older_than_retention else None)
        plan.repairs += verdict.repairs
        plan.problems += [Finding(order_id=view.order_id, message=message) for message in verdict.problems]
        if verdict.note:
            plan.notes.append(f"order {view.order_id}: {verdict.note}")
    return plan


def judge(view: ObservedOrder, records: OrderRecords, *, past_retention: timedelta | None = None) -> Verdict:
    """The safe repairs for one settled, closed (or execution-less) order, and what stays wrong once they are made.
    `past_retention`: the namespace's retention, when the order's records are older than it."""
    outcome = view.outcome
    if outcome is None:
        return _judge_without_execution(view, records, past_retention=past_retention)
    if outcome.state == OrderState.COMPENSATED and fulfilled(records):
        why = f"its records show it fulfilled, yet its execution ended {outcome.description}: nothing undone"
        return Verdict(problems=[why, *order_problems(outcome, _live_view(records))])
    if outcome.state == OrderState.COMPENSATED:
        repairs = _undo_everything(view, records)
    elif outcome.state == OrderState.COMPLETED and outcome.total_amount is not None:
        repairs = _refund_extra_charges(view, records, outcome.total_amount)
    else:
        repairs = []
    return Verdict(repairs, order_problems(outcome, _live_view(after_repairs(records, repairs))))


def _judge_without_execution(
    view: ObservedOrder, records: OrderRecords, *, past_retention: timedelta | None
) -> Verdict:
    """Temporal has no execution of the order: it was never placed through Cadenza, or its execution was deleted
    (retention does that to every closed one in time). Once its fulfilment began, nothing is undone: fulfilled, it is
    noted; anything short of that is raised. Before that, its charges are refunded, as for an order that never was —
    unless its records are older than the retention, when "never placed" is a guess."""
    live = _live_view(records)
    if fulfilment_begun(live):
        _, problems = without_execution(live)  # no problem left means fulfilled, one live charge for the total
        return Verdict(problems=problems) if problems else Verdict(note=FULFILLED_NOTE)
    if past_retention is not None and live_records(live):
        return Verdict(
            problems=[
                f"Temporal has no execution of it and its records are older than the namespace's retention "
                f"({short_duration(past_retention)}): its execution may have been deleted; check it by hand"
            ]
        )
    why = "charge of an order Temporal has no execution of"
    repairs = [_repair(RepairAction.REFUND_CHARGE, view, c["id"], why) for c in records.live_charges]
    return Verdict(repairs, without_execution(_live_view(after_repairs(records, repairs)))[1])


def _undo_everything(view: ObservedOrder, records: OrderRecords) -> list[Repair]:
    """Only records created since the order's current run started are undone. An older one belongs to an earlier
    execution of the same order id (placed again after its execution was deleted: a completed order that must not be
    undone) or to the run before a reset: not for a program to tell apart, so it is left for the audit to raise."""
    why = f"order ended {view.judged_as}"
    ours = _since(view.started_at)
    repairs = [
        _repair(RepairAction.REFUND_CHARGE, view, c["id"], f"live charge; {why}")
        for c in records.live_charges
        if ours(c)
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


def _refund_extra_charges(view: ObservedOrder, records: OrderRecords, total: int) -> list[Repair]:
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


def _repair(action: RepairAction, view: ObservedOrder, target: str, reason: str) -> Repair:
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
            if c["id"] in targets[RepairAction.REFUND_CHARGE]
            else c
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
    unlisted = len(plan.notes) - MAX_NOTED
    notes = plan.notes[:MAX_NOTED] + ([f"… and {unlisted} more orders noted"] if unlisted > 0 else []) + notes
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
