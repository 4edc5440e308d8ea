"""`cadenza chaos` options and the pieces of a chaos run that need no stack: the outage spec, refusals before
anything starts, which compensating orders get cancelled, the order mix, the reviewer's decisions and how a stuck
order is told from a slow one."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowTaskFailedEventAttributes,
    WorkflowTaskTimedOutEventAttributes,
)
from temporalio.api.workflow.v1 import PendingWorkflowTaskInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.converter import DataConverter
from typer.testing import CliRunner

from activities.risk import REVIEW_LIMIT
from cadenza.decision_keys import decision_keys
from clients.orders import NotAwaitingReview
from starters.chaos import DEFAULT_OUTAGE, ChaosPlan, ChaosReport, InvalidOutage, Outage, parse_outage
from starters.chaos.cancels import MidCompensationCanceller
from starters.chaos.mix import chaos_orders, kind_of, spread_over_kinds
from starters.chaos.reviewer import REVIEWER, Reviewer
from starters.chaos.stuck import Stuck, closed_or_stuck
from starters.chaos.timeline import Timeline
from starters.cli import app
from starters.load import LoadReport
from workflows.models import WORKFLOW_ID_PREFIX, OrderProgress, OrderState, ReviewVerdict
from workflows.policies import STEP_RETRY_BUDGET


def test_the_default_outage_outlasts_the_step_deadline() -> None:
    assert DEFAULT_OUTAGE.seconds > STEP_RETRY_BUDGET.total_seconds()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("payment:150", Outage("payment", 150)), (" erp : 2.5 ", Outage("erp", 2.5)), ("none", None), ("", None)],
)
def test_outage_specs(text: str, expected: Outage | None) -> None:
    assert parse_outage(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("billing:10", "expected SERVICE:SECONDS with SERVICE one of erp, payment, inventory, or none"),
        ("payment", "expected SERVICE:SECONDS"),
        ("payment:soon", "'soon' is not a number of seconds"),
        ("payment:0", "more than 0 and at most 3600 seconds"),
        ("payment:7200", "more than 0 and at most 3600 seconds"),
    ],
)
def test_bad_outage_specs_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidOutage, match=message):
        parse_outage(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outage", "billing:10"], "--outage: 'billing:10': expected SERVICE:SECONDS"),
        (["--faults", "payment:slow_commit_rate=2"], "--faults: 'slow_commit_rate=2' in payment"),
    ],
)
def test_chaos_refuses_bad_options_before_starting_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["chaos", *args])

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # rich wraps long lines


class _Handle:
    def __init__(self, cancels: list[str], workflow_id: str) -> None:
        self._cancels, self._id = cancels, workflow_id

    async def cancel(self) -> None:
        self._cancels.append(self._id)


class _Client:
    def __init__(self) -> None:
        self.cancels: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self.cancels, workflow_id)


async def test_every_nth_order_seen_compensating_is_cancelled_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("starters.chaos.cancels.SECOND_CANCEL_AFTER_S", 0)
    report = ChaosReport(LoadReport("run", 10, 1, 1))
    lines: list[str] = []
    client = _Client()
    timeline = Timeline(10, report, lines.append)
    canceller = MidCompensationCanceller(client, 3, timeline, report)  # type: ignore[arg-type]

    for n in range(7):
        canceller.offer(f"order-{n}")
    await asyncio.sleep(0.05)

    assert sorted(client.cancels) == ["order-0", "order-0", "order-3", "order-3", "order-6", "order-6"]
    assert sorted(report.disruptions.cancelled_mid_compensation) == ["order-0", "order-3", "order-6"]
    assert report.disruptions.counts()["cancelled_mid_compensation"] == 3
    assert len(lines) == 6 and lines == report.events
    assert any(line.endswith("0/10 closed: cancel 2/2 of order-3 (seen compensating)") for line in lines)


# ---- the rest of the product: the mix, the reviewer, stuck orders ---------------------------------------------------


def test_the_mix_has_the_kinds_and_verdicts_its_shares_ask_for_and_the_same_seed_gives_the_same_orders() -> None:
    plan = ChaosPlan(orders=50, large_share=0.1, review_share=0.1, reject_share=0.2, expire_share=0.2, seed=4)

    mix = chaos_orders(plan, "run")

    assert Counter(kind_of(order) for order in mix.orders) == {"small": 40, "large": 5, "review": 5}
    assert all(order.total_amount > REVIEW_LIMIT for order in mix.orders if order.order_id in mix.verdicts)
    assert Counter(mix.verdicts.values()) == {ReviewVerdict.APPROVE: 3, ReviewVerdict.REJECT: 1, None: 1}
    assert [order.total_amount for order in chaos_orders(plan, "other").orders] == [o.total_amount for o in mix.orders]


def test_a_few_actors_still_reach_every_kind() -> None:
    orders = chaos_orders(ChaosPlan(orders=100, large_share=0.05, review_share=0.02), "run").orders

    picked = spread_over_kinds(orders, 3, "seed")

    assert {kind_of(order) for order in orders if order.order_id in picked} == {"small", "large", "review"}
    assert len(spread_over_kinds(orders, 500, "seed")) == 100  # never more than there are


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--large-share", "0.6", "--review-share", "0.5"], "--large-share and --review-share are each at least 0"),
        (["--reject-share", "0.9", "--expire-share", "0.2"], "--reject-share and --expire-share are each at least 0"),
    ],
)
def test_chaos_refuses_shares_above_the_whole(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["chaos", *args])

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


async def test_the_reviewer_decides_as_planned_and_counts_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    decided: list[tuple[str, ReviewVerdict, str]] = []

    async def review_order(
        client: object, order_id: str, verdict: ReviewVerdict, *, reviewer: str, reason: str, keys: object
    ):
        if order_id == "late":
            raise NotAwaitingReview("order late is not awaiting review: its review ended expired", "compensated")
        decided.append((order_id, verdict, reviewer))
        return OrderProgress(order_id=order_id, state=OrderState.RUNNING)

    monkeypatch.setattr("starters.chaos.reviewer.review_order", review_order)
    report = ChaosReport(LoadReport("run", 4, 1, 1))
    verdicts = {"a": ReviewVerdict.APPROVE, "b": ReviewVerdict.REJECT, "c": None, "late": ReviewVerdict.APPROVE}
    timeline = Timeline(4, report, lambda _: None)
    reviewer = Reviewer(None, verdicts, timeline, report, decision_keys())  # type: ignore[arg-type]

    for order_id in verdicts:
        reviewer.offer(f"{WORKFLOW_ID_PREFIX}{order_id}")
    await asyncio.sleep(0.05)

    assert sorted(decided) == [("a", ReviewVerdict.APPROVE, REVIEWER), ("b", ReviewVerdict.REJECT, REVIEWER)]
    assert report.actors.review_decisions == {"approve": 1, "reject": 1, "leave": 1, "refused": 1}


class _RetriedHandle:
    """An order whose workflow task is on its third attempt: after a failure (`failure`), or after timeouts (None:
    workers killed mid-task), in which case its result comes at `result_after_s`."""

    def __init__(self, failure: Failure | None, result_after_s: float = 3600) -> None:
        self._failure, self._result_after_s = failure, result_after_s

    async def result(self) -> OrderProgress:
        await asyncio.sleep(self._result_after_s)
        return OrderProgress(order_id="o", state=OrderState.COMPLETED)

    async def describe(self) -> SimpleNamespace:
        raw = DescribeWorkflowExecutionResponse(pending_workflow_task=PendingWorkflowTaskInfo(attempt=3))
        return SimpleNamespace(raw_description=raw)

    async def fetch_history_events(self) -> AsyncIterator[HistoryEvent]:
        if self._failure is None:
            timed_out = WorkflowTaskTimedOutEventAttributes()
            yield HistoryEvent(event_id=7, workflow_task_timed_out_event_attributes=timed_out)
            return
        yield HistoryEvent(
            event_id=7,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE,
                failure=self._failure,
            ),
        )


async def test_an_order_whose_workflow_task_keeps_failing_is_reported_stuck_not_awaited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("starters.chaos.stuck.FIRST_CHECK_AFTER_S", 0)
    failure = Failure()
    try:  # the shape of the polling wedge: the SDK's message, the validation error under it
        try:
            raise ValueError("3 validation errors for ChargeRecord")
        except ValueError as invalid:
            raise RuntimeError("Failed decoding arguments") from invalid
    except RuntimeError as wedged:
        await DataConverter.default.encode_failure(wedged, failure)

    handle = _RetriedHandle(failure)
    outcome = await asyncio.wait_for(closed_or_stuck(handle, DataConverter.default), timeout=5)  # type: ignore[arg-type]

    assert isinstance(outcome, Stuck)
    assert outcome.cause == (
        "WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE: RuntimeError: Failed decoding arguments "
        "<- ValueError: 3 validation errors for ChargeRecord"
    )


async def test_an_order_whose_workflow_task_timed_out_with_killed_workers_is_awaited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("starters.chaos.stuck.FIRST_CHECK_AFTER_S", 0)
    monkeypatch.setattr("starters.chaos.stuck.CHECK_EVERY_S", 0.01)

    handle = _RetriedHandle(None, result_after_s=0.1)
    outcome = await asyncio.wait_for(closed_or_stuck(handle, DataConverter.default), timeout=5)  # type: ignore[arg-type]

    assert isinstance(outcome, OrderProgress) and outcome.state == OrderState.COMPLETED
