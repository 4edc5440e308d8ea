"""The reconciler's rules (activities/reconcile_plan.py), on records shaped as the services answer them: what is
repaired, what is raised, and what is left alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus

from activities.audit import NOTHING_LIVE_WITHOUT_EXECUTION, OrderOutcome, without_execution
from activities.order_runs import current_runs
from activities.reconcile_plan import (
    FULFILLED_NOTE,
    MAX_NOTED,
    NO_EXECUTION,
    ObservedOrder,
    plan_reconciliation,
    stock_findings,
    survey_of,
)
from activities.records import OrderRecords
from workflows.models import OrderState
from workflows.reconcile_models import MAX_LISTED, Finding, RepairAction

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
GRACE = timedelta(minutes=2)
LONG_AGO = NOW - timedelta(hours=1)
TOTAL = 2100


def _stamp(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _charge(
    charge_id: str, amount: int = TOTAL, *, refunded: int | bool = False, when: datetime = LONG_AGO
) -> dict[str, Any]:
    """`refunded`: True for the whole amount, or how much."""
    amount_refunded = amount if refunded is True else int(refunded)
    return {
        "id": charge_id,
        "order_id": "o-1",
        "amount": amount,
        "status": "succeeded",
        "refunded": amount_refunded == amount,
        "amount_refunded": amount_refunded,
        "created_at": _stamp(when),
    }


def _reservation(reservation_id: str, status: str, when: datetime = LONG_AGO) -> dict[str, Any]:
    return {
        "id": reservation_id,
        "order_id": "o-1",
        "status": status,
        "created_at": _stamp(when),
        "updated_at": _stamp(when),
        "lines": [{"sku": "SKU-BOOK", "quantity": 2}],
    }


def _erp(status: str, when: datetime = LONG_AGO) -> dict[str, Any]:
    return {
        "order_id": "o-1",
        "status": status,
        "total_amount": TOTAL,
        "created_at": _stamp(when),
        "updated_at": _stamp(when),
    }


def _fulfilled(when: datetime = LONG_AGO, *, charges: tuple[dict[str, Any], ...] = ()) -> OrderRecords:
    """What a completed order leaves: ERP order confirmed, one live charge for the total, its stock committed."""
    return _records(
        _erp("confirmed", when), charges or [_charge("ch_1", when=when)], [_reservation("res_1", "committed", when)]
    )


def _records(erp=None, charges=(), reservations=()) -> OrderRecords:
    return OrderRecords("o-1", erp, list(charges), list(reservations))


def _ended(description: str, state: OrderState | None = None, *, closed_at: datetime = LONG_AGO, **kw) -> ObservedOrder:
    if state is None and description in {s.value for s in OrderState}:
        state = OrderState(description)
    return ObservedOrder("o-1", OrderOutcome(state, TOTAL, description), closed_at=closed_at, **kw)


def _plan(view: ObservedOrder, records: OrderRecords):
    return plan_reconciliation([view], {"o-1": records}, now=NOW, grace=GRACE)


def _repairs(plan) -> list[tuple[RepairAction, str]]:
    return [(r.action, r.target) for r in plan.repairs]


def test_compensated_order_gets_every_live_record_undone_and_nothing_raised():
    records = _records(
        _erp("pending"),
        [_charge("ch_1"), _charge("ch_2", refunded=True)],
        [_reservation("res_1", "held"), _reservation("res_0", "released")],
    )
    plan = _plan(_ended("compensated"), records)
    assert _repairs(plan) == [
        (RepairAction.REFUND_CHARGE, "ch_1"),
        (RepairAction.RELEASE_RESERVATION, "res_1"),
        (RepairAction.CANCEL_ERP_ORDER, "o-1"),
    ]
    assert plan.problems == []
    assert plan.repairs[0].idempotency_key == "reconcile/refund_charge/ch_1"
    assert plan.repairs[0].judged_as == "compensated" and "order ended compensated" in plan.repairs[0].reason


def test_cancelled_order_is_repaired_like_a_compensated_one():
    # Cancelled while confirming: the ERP order confirmed, the commit never came; the saga's own undo, finished here.
    plan = _plan(
        _ended("cancelled", OrderState.COMPENSATED),
        _records(_erp("confirmed"), [_charge("ch_1")], [_reservation("res_1", "held")]),
    )
    assert set(_repairs(plan)) == {
        (RepairAction.REFUND_CHARGE, "ch_1"),
        (RepairAction.RELEASE_RESERVATION, "res_1"),
        (RepairAction.CANCEL_ERP_ORDER, "o-1"),
    }
    assert plan.repairs[0].judged_as == "cancelled"


@pytest.mark.parametrize("ended", ["compensated", "cancelled"])
def test_an_order_whose_records_show_it_fulfilled_is_never_undone_whatever_its_execution_says(ended):
    plan = _plan(_ended(ended, OrderState.COMPENSATED), _fulfilled())
    assert plan.repairs == []
    assert plan.problems[0].message == f"its records show it fulfilled, yet its execution ended {ended}: nothing undone"


def test_records_older_than_the_orders_execution_are_raised_never_undone():
    # The order id was placed again after its first (completed) execution was deleted; the new execution was refused
    # at its first step and ended compensated. The live records are the first order's: undoing them would cancel a
    # real, completed order.
    started = LONG_AGO + timedelta(minutes=10)
    first_order = _records(_erp("confirmed"), [_charge("ch_1")], [_reservation("res_1", "committed")])
    plan = _plan(_ended("compensated", started_at=started), first_order)
    assert plan.repairs == []
    assert plan.problems and all(p.order_id == "o-1" for p in plan.problems)


def test_consistent_orders_need_nothing():
    completed = _plan(
        _ended("completed"), _records(_erp("confirmed"), [_charge("ch_1")], [_reservation("res_1", "committed")])
    )
    compensated = _plan(_ended("compensated"), _records(_erp("cancelled"), [_charge("ch_1", refunded=True)]))
    for plan in (completed, compensated):
        assert (plan.repairs, plan.problems, plan.orders) == ([], [], 1)


def test_charge_of_an_order_temporal_has_no_execution_of_is_refunded():
    plan = _plan(ObservedOrder("o-1", None), _records(charges=[_charge("ch_1", 500)]))
    assert _repairs(plan) == [(RepairAction.REFUND_CHARGE, "ch_1")]
    assert plan.repairs[0].judged_as == NO_EXECUTION
    assert plan.repairs[0].reason == "charge of an order Temporal has no execution of"
    assert plan.problems == []


def test_other_live_records_of_an_order_without_execution_are_raised_not_touched():
    # Charged, stock held, nothing that ships: undone as far as is safe, the rest raised.
    plan = _plan(
        ObservedOrder("o-1", None), _records(_erp("pending"), [_charge("ch_1")], [_reservation("res_1", "held")])
    )
    assert _repairs(plan) == [(RepairAction.REFUND_CHARGE, "ch_1")]
    [finding] = plan.problems
    assert (
        finding.message == "services hold live records of an order Temporal has no execution of: "
        "ERP order pending, reservation res_1 held"
    )


@pytest.mark.parametrize(
    "charges",
    [[_charge("ch_1")], [_charge("ch_0", refunded=True), _charge("ch_1")]],
    ids=["paid once", "a double charge already refunded"],
)
def test_a_fulfilled_order_whose_execution_is_gone_is_noted_and_never_undone(charges):
    # What retention does to every completed order in time: nothing to repair, nothing to raise.
    plan = _plan(ObservedOrder("o-1", None), _fulfilled(charges=tuple(charges)))
    assert (plan.repairs, plan.problems, plan.orders) == ([], [], 1)
    assert plan.notes == [f"order o-1: {FULFILLED_NOTE}"]
    survey = survey_of(plan, max_repairs=10, stock=[], notes=["stock checked"])
    assert survey.notes == [f"order o-1: {FULFILLED_NOTE}", "stock checked"] and survey.problems_total == 0


@pytest.mark.parametrize(
    ("records", "wrong"),
    [
        (
            _records(_erp("confirmed"), [_charge("ch_1")], [_reservation("res_1", "released")]),
            "partly fulfilled, execution deleted: reservations ['released'], expected one committed",
        ),
        (
            _records(_erp("pending"), [_charge("ch_1")], [_reservation("res_1", "committed")]),
            "partly fulfilled, execution deleted: ERP order is pending, expected confirmed",
        ),
        (
            _records(_erp("confirmed"), [_charge("ch_1", refunded=True)], [_reservation("res_1", "committed")]),
            "partly fulfilled, execution deleted: 0 live charges, expected exactly 1",
        ),
        (
            _records(_erp("confirmed"), [_charge("ch_1", refunded=100)], [_reservation("res_1", "committed")]),
            f"partly fulfilled, execution deleted: charge ch_1 keeps {TOTAL - 100} ({TOTAL} charged, 100 refunded), "
            f"expected {TOTAL}",
        ),
        (
            _records(_erp("confirmed"), [_charge("ch_1"), _charge("ch_2")], [_reservation("res_1", "committed")]),
            "fulfilled, execution deleted: charged 2 times (double charge); 2 live charges, expected exactly 1",
        ),
        (
            _records(None, [_charge("ch_1")], [_reservation("res_1", "committed")]),
            "partly fulfilled, execution deleted: stock committed without an ERP order",
        ),
    ],
    ids=["stock released", "ERP order never confirmed", "refunded", "partly refunded", "charged twice", "no ERP order"],
)
def test_an_order_whose_fulfilment_began_is_raised_never_undone_once_its_execution_is_gone(records, wrong):
    # Whether it shipped, and what the customer owes, is for a person: not even its extra charge is refunded.
    plan = _plan(ObservedOrder("o-1", None), records)
    assert (plan.repairs, [p.message for p in plan.problems], plan.notes) == ([], [wrong], [])


def test_second_live_charge_of_a_completed_order_is_refunded_keeping_the_one_for_the_total():
    records = _records(
        _erp("confirmed"),
        [_charge("ch_odd", 999), _charge("ch_1"), _charge("ch_2")],
        [_reservation("res_1", "committed")],
    )
    plan = _plan(_ended("completed"), records)
    assert _repairs(plan) == [(RepairAction.REFUND_CHARGE, "ch_odd"), (RepairAction.REFUND_CHARGE, "ch_2")]
    assert "kept ch_1" in plan.repairs[0].reason
    assert plan.problems == []


def test_completed_order_without_a_live_charge_is_raised_and_nothing_repaired():
    plan = _plan(
        _ended("completed"),
        _records(_erp("confirmed"), [_charge("ch_1", refunded=True)], [_reservation("res_1", "committed")]),
    )
    assert plan.repairs == []
    assert plan.problems == [Finding(order_id="o-1", message="0 live charges, expected exactly 1")]


def test_completed_order_whose_charges_are_all_for_the_wrong_amount_is_not_guessed_at():
    plan = _plan(
        _ended("completed"),
        _records(_erp("confirmed"), [_charge("ch_1", 5), _charge("ch_2", 7)], [_reservation("res_1", "committed")]),
    )
    assert plan.repairs == []
    assert [p.message for p in plan.problems] == [
        "charged 2 times (double charge)",
        "2 live charges, expected exactly 1",
    ]


def test_order_terminated_half_way_is_raised_and_not_repaired():
    plan = _plan(_ended("terminated (running)"), _records(_erp("pending"), [_charge("ch_1")]))
    assert plan.repairs == []
    assert [p.message for p in plan.problems] == ["not closed as completed or compensated: terminated (running)"]


def test_open_orders_and_recent_changes_are_left_alone():
    records = _records(_erp("pending"), [_charge("ch_1")])
    running = _plan(_ended("running (compensating)", open=True, closed_at=None), records)
    assert (running.repairs, running.problems, running.open_orders, running.orders) == ([], [], 1, 0)

    just_closed = _plan(_ended("compensated", closed_at=NOW - timedelta(seconds=30)), records)
    fresh_charge = _plan(
        ObservedOrder("o-1", None), _records(charges=[_charge("ch_1", when=NOW - timedelta(seconds=5))])
    )
    for plan in (just_closed, fresh_charge):
        assert (plan.repairs, plan.problems, plan.deferred) == ([], [], 1)


def test_stock_is_checked_only_when_no_reservation_just_changed():
    stock = {
        "SKU-BOOK": {"on_hand": 90, "reserved": 0, "seed_quantity": 100}
    }  # 10 gone, but nothing committed ships them
    quiet = [_reservation("res_1", "released")]
    findings, notes = stock_findings(stock, quiet, now=NOW, grace=GRACE)
    assert [f.order_id for f in findings] == ["(stock)"] and notes == []
    busy = [*quiet, _reservation("res_2", "committed", when=NOW - timedelta(seconds=1))]
    assert stock_findings(stock, busy, now=NOW, grace=GRACE) == (
        [],
        ["stock not checked: reservations changed within the grace period"],
    )


def test_survey_is_bounded_whatever_the_services_hold():
    views = [ObservedOrder(f"o-{i}", None) for i in range(MAX_LISTED + 10)]
    records = {
        f"o-{i}": OrderRecords(f"o-{i}", _erp("pending"), [_charge(f"ch_{i}")], []) for i in range(MAX_LISTED + 10)
    }
    survey = survey_of(plan_reconciliation(views, records, now=NOW, grace=GRACE), max_repairs=7, stock=[], notes=[])
    assert len(survey.repairs) == 7 and survey.repairs_postponed == MAX_LISTED + 3
    assert len(survey.problems) == MAX_LISTED and survey.problems_total == MAX_LISTED + 10


def test_an_order_older_than_the_namespace_retention_is_not_taken_for_one_never_placed():
    # Its execution may simply have been deleted before it finished: its charge must not be refunded on a guess.
    two_days_ago = NOW - timedelta(days=2)
    records = _records(_erp("pending", two_days_ago), [_charge("ch_1", when=two_days_ago)])
    plan = _plan_past_retention(records)
    assert plan.repairs == []
    [finding] = plan.problems
    assert "older than the namespace's retention (24h)" in finding.message


def test_past_the_retention_a_fulfilled_or_undone_order_without_execution_is_no_problem():
    two_days_ago = NOW - timedelta(days=2)
    fulfilled = _plan_past_retention(_fulfilled(two_days_ago))
    assert (fulfilled.repairs, fulfilled.problems, fulfilled.notes) == ([], [], [f"order o-1: {FULFILLED_NOTE}"])
    undone = _records(_erp("cancelled", two_days_ago), [_charge("ch_1", refunded=True, when=two_days_ago)])
    assert (_plan_past_retention(undone).repairs, _plan_past_retention(undone).problems) == ([], [])
    assert without_execution(undone) == (NOTHING_LIVE_WITHOUT_EXECUTION, [])
    # The audit still names a double charge in its history, as it does for an order with its execution.
    twice = replace(undone, charges=[*undone.charges, _charge("ch_2", refunded=True, when=two_days_ago)])
    assert without_execution(twice) == (
        NOTHING_LIVE_WITHOUT_EXECUTION,
        ["nothing live, no execution: charged 2 times (double charge)"],
    )
    assert (_plan_past_retention(twice).repairs, _plan_past_retention(twice).problems) == ([], [])


def _plan_past_retention(records: OrderRecords):
    return plan_reconciliation(
        [ObservedOrder("o-1", None)], {"o-1": records}, now=NOW, grace=GRACE, retention=timedelta(days=1)
    )


def test_notes_are_bounded_like_findings():
    views = [ObservedOrder(f"o-{i}", None) for i in range(MAX_NOTED + 3)]
    records = {view.order_id: _fulfilled() for view in views}
    survey = survey_of(plan_reconciliation(views, records, now=NOW, grace=GRACE), max_repairs=7, stock=[], notes=[])
    assert len(survey.notes) == MAX_NOTED + 1 and survey.notes[-1] == "… and 3 more orders noted"


def _run(order_id: str, status: WorkflowExecutionStatus, minutes_ago: int) -> SimpleNamespace:
    """What `current_runs` reads of a listed run."""
    return SimpleNamespace(id=f"order-{order_id}", status=status, start_time=NOW - timedelta(minutes=minutes_ago))


def test_an_order_is_judged_by_its_open_run_else_its_newest_whatever_order_visibility_lists_them_in():
    status = WorkflowExecutionStatus
    completed, reset_open = _run("a", status.COMPLETED, 9), _run("a", status.RUNNING, 5)
    cancelled, reset_done = _run("b", status.CANCELED, 9), _run("b", status.COMPLETED, 5)
    for listed in ([completed, reset_open, cancelled, reset_done], [reset_done, cancelled, reset_open, completed]):
        assert current_runs(listed) == {"a": reset_open, "b": reset_done}
