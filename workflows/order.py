"""`OrderWorkflow`: create the ERP order → charge the payment (large orders: risk check first, and those the risk rules
refer to a person wait for a reviewer's decision) → reserve stock → confirm; compensate on failure.

Deterministic by construction: no I/O, clocks or randomness here — every effect is an activity, called by the name
declared in workflows/activity_types.py (this layer never imports activities/). Models are imported through the
sandbox rather than re-imported per run (pydantic is heavy).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from cadenza.errors import CadenzaError
    from cadenza.failure_types import CANCELLED, DECLINE_TYPES, ORDER_COMPENSATED, REVIEW_EXPIRED, REVIEW_REJECTED
    from cadenza.search_attributes import ORDER_STATUS
    from workflows import activity_types, metrics
    from workflows.activity_types import ActivityType
    from workflows.errors import ORDER_FAILURES, FailureSummary, describe_failure
    from workflows.first_attempts import FillFrom, FirstCall
    from workflows.models import (
        RISK_CHECK_THRESHOLD,
        ChargeRecord,
        ChargeRequest,
        Compensation,
        CompensationRecord,
        ErpOrderRequest,
        OperatorRetry,
        OrderProgress,
        OrderRef,
        OrderResult,
        OrderState,
        PaymentAnswer,
        PaymentDecision,
        PaymentOutcome,
        ProgressEvent,
        ProgressKind,
        ReservationRef,
        ReservationRequest,
        ReviewDecision,
        ReviewOutcome,
        ReviewRecord,
        ReviewVerdict,
        RiskAssessment,
        RiskAssessmentRequest,
        Step,
        StepFence,
        StoredOrder,
        format_money,
    )
    from workflows.policies import DEFAULT_REVIEW_DEADLINE, ORDER_OPTIONS, PARALLEL_COMPENSATION, REVIEW_DEADLINE_MEMO
    from workflows.steps import Fence, Plan, StepRunner, Undo, timestamp, to_the_end

# The patch id of the risk check. Its lifecycle: `patched()` now; `deprecate_patch()` (and the check unconditional)
# once no open execution started before the check and no recorded history without it is kept; then neither, once
# none started before `deprecate_patch` is open either.
RISK_CHECK_PATCH = "risk-check-before-charge"

# The patch id of idempotency keys per execution (workflow id + operation + first run id) and compensations that fence
# those keys. Executions that started before it keep the keys they used (workflow id + operation): their in-flight
# retries must still hit the requests they already made.
EXECUTION_KEYS_PATCH = "keys-per-execution"

# The patch id of manual review: a large order the risk rules refer to a person waits in `awaiting_review` instead of
# being refused. Asked only for orders that are risk-checked, right before the check, so the histories of every other
# order are unchanged; an execution replaying without the marker asks the risk check for its old answer (a refusal).
MANUAL_REVIEW_PATCH = "manual-review"

# The patch id of local first attempts (workflows/policies.py, LOCAL_ATTEMPT): each forward step's first attempt runs
# inside the workflow task as a local activity, and only one that fails retryably or is slow goes to the server as a
# normal activity. Asked once, at the start, so that an execution keeps one way of calling for its whole life.
#
# What a local attempt did is recorded only when its workflow task completes. A task can be lost after its calls went
# through — the worker crashed, or the server refused the task's completion because a cancel or an update arrived
# meanwhile — and the order is then run again from its last recorded task: the calls are made again with the same
# idempotency keys (the services answer with what they did the first time), but a cancel recorded meanwhile may now
# stop the order *before* steps whose calls had already gone through. So an execution that runs local first
# registers the compensation of every forward step before the first one: whatever interrupts it, compensating fences
# every key it may have used — undoing what a lost task did, and answering "nothing to undo" for a step no attempt
# reached (docs/how-an-order-runs.md).
#
# One call still goes through the server: the reservation after the charge when a checkout waits for the payment
# decision (`payment_decision` update), so that the update's answer leaves with the task that decided it, not with
# the rest of the order.
LOCAL_FIRST_PATCH = "local-first-attempt"

# The patch id of executions that decide everything at their start. `workflow.patched()` answers on replay from the
# markers of the workflow task being replayed, so a patch must be asked where its marker lands in the same task however
# the tasks were split — and a task can end between a local activity and the code that follows it (seen with an order
# polled by queries during its first task: its create-ERP marker in the first task, the risk-check and manual-review
# markers in the second; on replay the local activity resolved inside the first task, the risk check was skipped and
# the execution wedged for good). Only a patch asked before anything else the run does is safe from that. So an
# execution that takes this one — asked first, at the start — asks none of the patches before it: local first
# attempts, keys per execution, the risk check and manual review all came before it and are implied.
# tests/replay/test_task_splits.py replays histories split at every point a workflow task can end.
DECIDED_AT_START_PATCH = "decided-at-start"

# The patch id of compensated orders ending Failed: an order that was compensated (declined, out of stock, refused in
# review) raises a non-retryable `OrderCompensated` failure carrying its `OrderResult` after its compensations, so the
# Web UI shows it red, in the "Failures" count, with its reason on its page — as Temporal's saga samples do, which
# re-raise after compensating. Readers map the failure back to the result (clients/orders.py, `order_result`).
# Executions recorded before it ended Completed and replay that way. Asked at the start, next to DECIDED_AT_START_PATCH
# and for the same reason (a patch asked after a local activity can land in another workflow task on replay).
COMPENSATED_FAILS_PATCH = "compensated-order-fails"

# The patch id of first attempts together (workflows/first_attempts.py): an order with no risk check makes the first
# attempts of all its calls — create the ERP order, charge, reserve, then confirm and commit together — in one local
# activity, and each step takes its call's outcome from it. One hand-over between the workflow and its calls instead
# of five, one marker instead of five (docs/performance.md). Asked first, alone: it implies every patch before it
# (decided-at-start and compensated-order-fails included), so a new execution records one patch marker, not two.
FIRST_ATTEMPTS_TOGETHER_PATCH = "first-attempts-together"


def compensated_message(result: OrderResult) -> str:
    """The failure's message, what the Web UI shows on a compensated order's page: why, at which step, what was
    undone."""
    step = f" at {result.failed_step.value}" if result.failed_step else ""
    kind = f" ({result.error_type})" if result.error_type else ""
    undone = ", ".join(f"{c.action.value} {_undo_outcome(c)}" for c in result.compensations) or "none"
    return f"order compensated{step}: {result.reason or 'no reason recorded'}{kind}; compensations: {undone}"


def _undo_outcome(record: CompensationRecord) -> str:
    if record.undone is None:
        return record.status.value
    return "undone" if record.undone else "nothing to undo"


# The reason of an order whose review deadline passed (its `error_type` is REVIEW_EXPIRED).
REVIEW_DEADLINE_PASSED = "review deadline passed"

# The updates that carry a person's decision. Their input must hold a door's proof (cadenza.decisions), which the worker
# checks before these updates' validators run (workers/decision_check.py): reaching Temporal is not enough to decide.
REVIEW_UPDATE = "review"
RETRY_UPDATE = "retry_compensation"
SIGNED_UPDATES = frozenset({REVIEW_UPDATE, RETRY_UPDATE})


class RetryRefused(CadenzaError):
    """The `retry_compensation` validator's refusal: the order is not in needs_attention (no trace in history)."""


class ReviewRefused(CadenzaError):
    """The `review` validator's refusal: the order is not awaiting a decision (no trace in history)."""


REVIEW_REFUSED_BECAUSE = "is not awaiting review: "
"""What the review validator's message says before its reason (clients/orders.py reads the reason after it)."""


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class OrderWorkflow:
    @workflow.init
    def __init__(self, order: StoredOrder) -> None:
        self._order = order
        self._progress = OrderProgress(order_id=order.order_id)
        self._events: list[ProgressEvent] = []
        self._steps: StepRunner[Step, Compensation, CompensationRecord] = StepRunner(
            ORDER_PLAN,
            progress=self._progress,
            records=self._progress.compensations,
            record=self._record,
            details=self._set_details,
            fence_input=self._fence_input,
        )
        self._review_decision: ReviewDecision | None = None
        self._decision_awaited = False
        # The SDK's __contains__ takes a key; its Collection[SearchAttributePair] base makes mypy expect a pair.
        self._indexed = ORDER_STATUS in workflow.info().typed_search_attributes  # type: ignore[comparison-overlap]

    @workflow.run
    async def run(self, order: StoredOrder) -> OrderResult:
        # Asked first, and alone when it is taken (see DECIDED_AT_START_PATCH and FIRST_ATTEMPTS_TOGETHER_PATCH): one
        # marker, one upsert of TemporalChangeVersion. Executions recorded before it ask, and replay, the patches they
        # asked; an execution that runs local first started after keys per execution too, so it does not ask that one.
        self._together = workflow.patched(FIRST_ATTEMPTS_TOGETHER_PATCH)
        self._decided_at_start = self._together or workflow.patched(DECIDED_AT_START_PATCH)
        # Also before anything else (see COMPENSATED_FAILS_PATCH).
        self._compensated_fails = self._together or workflow.patched(COMPENSATED_FAILS_PATCH)
        self._local_first = self._decided_at_start or workflow.patched(LOCAL_FIRST_PATCH)
        # The first run id survives retries and resets of this execution but not a new execution of the same order
        # id (one placed again after the first was deleted), so keys made with it name exactly this execution.
        if self._local_first or workflow.patched(EXECUTION_KEYS_PATCH):
            self._steps.execution = workflow.info().first_execution_run_id
        self._steps.local_first = self._local_first
        try:
            await self._fulfil()
        except ORDER_FAILURES as err:
            failure = describe_failure(err)
            self._progress.failed_step = self._progress.current_step
            self._progress.reason, self._progress.error_type = failure.reason, failure.error_type
            self._decide_payment(PaymentOutcome.NOT_CHARGED, reason=failure.reason)
            await self._compensate_despite_cancellation()
        except asyncio.CancelledError:
            # Cancellation reaches us as CancelledError (a BaseException). Undo what was done, then let the
            # execution end as Cancelled so the Web UI tells the truth.
            self._progress.failed_step = self._progress.current_step
            self._progress.reason, self._progress.error_type = "cancelled on request", CANCELLED
            self._decide_payment(PaymentOutcome.NOT_CHARGED, reason="cancelled on request")
            await self._compensate_despite_cancellation()
            metrics.order_closed("cancelled")
            raise
        else:
            self._set_state(OrderState.COMPLETED, "completed")
        metrics.order_closed(self._progress.state.value)
        result = OrderResult.model_validate(self._progress.model_dump())
        if self._compensated_fails and result.state == OrderState.COMPENSATED:
            # Failed, not Completed: the order did not happen. Non-retryable (a retry would place it again); the
            # result travels in the failure's details, so every reader still gets the whole OrderResult.
            raise ApplicationError(compensated_message(result), result, type=ORDER_COMPENSATED, non_retryable=True)
        return result

    # ---- queries and updates ------------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> OrderProgress:
        """Where the order is: current step, completed steps, compensation progress."""
        return self._progress

    @workflow.query
    def events(self, after: int) -> list[ProgressEvent]:
        """The changes of progress numbered above `after` (0: all of them), oldest first."""
        return self._events[after:]

    @workflow.update
    async def payment_decision(self) -> PaymentAnswer:
        """Returns as soon as the charge is decided — charged, declined or refused — or the order ended without one:
        what a checkout tells its customer while fulfilment carries on (the Order API's `Prefer: wait=payment`, with
        update-with-start), with the order's progress at that moment. Updates leave a record in history only when they
        are sent, so existing histories replay; what an update answers is not compared on replay (its answer grew the
        progress without a patch, tests/histories/first-attempts-together/payment_decided.json)."""
        self._decision_awaited = True
        await workflow.wait_condition(
            lambda: self._progress.payment is not None or self._progress.state == OrderState.AWAITING_REVIEW
        )
        if self._progress.payment is None:
            assert self._progress.risk is not None, "only the risk check's referral puts an order under review"
            # Not a decision (so not kept): the checkout can tell the customer their order is being reviewed.
            reason = "; ".join(self._progress.risk.reasons)
            return PaymentAnswer(outcome=PaymentOutcome.PENDING_REVIEW, reason=reason, progress=self._snapshot())
        return PaymentAnswer(**self._progress.payment.model_dump(), progress=self._snapshot())

    def _snapshot(self) -> OrderProgress:
        """The progress as of now, not a view the rest of the order goes on changing."""
        return self._progress.model_copy(deep=True)

    @workflow.update(name=RETRY_UPDATE)
    async def retry_compensation(self, retry: OperatorRetry | None = None) -> OrderProgress:
        """Operator's go-ahead to try the failed compensations again (after fixing their cause). `retry` says who
        relayed it; retries recorded before it existed carry none."""
        self._steps.operator_retry()
        return self._progress

    @workflow.update(name=REVIEW_UPDATE)
    async def review(self, decision: ReviewDecision) -> OrderProgress:
        """A reviewer's decision on an order in `awaiting_review`: approve (charge and carry on) or reject
        (compensate). Answers once the order has acted on it."""
        self._review_decision = decision
        await workflow.wait_condition(lambda: self._progress.state != OrderState.AWAITING_REVIEW)
        return self._progress

    @review.validator
    def _only_while_awaiting_review(self, decision: ReviewDecision) -> None:
        # Rejected updates leave no trace in history: a late or second decision changes nothing.
        if self._progress.state != OrderState.AWAITING_REVIEW or self._review_decision is not None:
            state = self._progress.state.value
            decided = self._progress.review and self._progress.review.outcome
            why = f"its review ended {decided.value}" if decided else f"it is {state}"
            raise ReviewRefused(f"order {self._order.order_id} {REVIEW_REFUSED_BECAUSE}{why}")

    @retry_compensation.validator
    def _only_when_stuck(self, retry: OperatorRetry | None = None) -> None:
        if self._progress.state != OrderState.NEEDS_ATTENTION:
            raise RetryRefused(f"order {self._order.order_id} is {self._progress.state}, not needs_attention")

    # ---- the process --------------------------------------------------------------------------------------------

    async def _fulfil(self) -> None:
        order = self._order
        money = format_money(order.total_amount, order.currency)
        create, reserve = activity_types.CREATE_ERP_ORDER, activity_types.RESERVE_INVENTORY

        if self._local_first:
            # Every step's compensation before the first step: see LOCAL_FIRST_PATCH.
            self._steps.register_every_undo()
        if self._together and not self._risk_check_applies() and not self._decision_awaited:
            # Not with a risk check (it may wait for a person between two calls), nor when a checkout waits for the
            # payment decision (its answer leaves with the task after the charge, see LOCAL_FIRST_PATCH). The batch is
            # the first step's attempt as much as the others': a cancel meanwhile stops the order there.
            self._progress.current_step = Step.CREATE_ERP_ORDER
            await self._steps.first_attempts(self._first_calls())
        await self._steps.step(
            Step.CREATE_ERP_ORDER,
            do=lambda: self._steps.call(
                create, ErpOrderRequest.of(order, self._key(create)), f"create ERP order {order.order_id}"
            ),
        )
        charge = await self._steps.step(
            Step.CHARGE_PAYMENT, do=lambda: self._charge(money), on_failure=self._charge_failed
        )
        self._progress.charge_id = charge.charge_id
        self._decide_payment(PaymentOutcome.CHARGED, charge_id=charge.charge_id)
        reservation = await self._steps.step(
            Step.RESERVE_INVENTORY,
            do=lambda: self._steps.call(
                reserve,
                ReservationRequest.of(order, self._key(reserve)),
                f"reserve {len(order.lines)} SKU(s)",
                local=not self._decision_awaited,
            ),
        )
        self._progress.reservation_id = reservation.reservation_id
        # Confirming needs no compensation of its own: cancelling the ERP order and releasing the reservation
        # (already registered) also undo a confirmed order and a committed reservation.
        await self._steps.step(Step.CONFIRM_ORDER, do=lambda: self._confirm(reservation.reservation_id))

    def _first_calls(self) -> list[FirstCall]:
        """Every call of a happy order, as its steps below make them, for `first_attempts`."""
        order = self._order
        create, charge = activity_types.CREATE_ERP_ORDER, activity_types.CHARGE_PAYMENT
        reserve, confirm, commit = (
            activity_types.RESERVE_INVENTORY,
            activity_types.CONFIRM_ERP_ORDER,
            activity_types.COMMIT_INVENTORY,
        )
        money = format_money(order.total_amount, order.currency)
        return [
            FirstCall.of(
                create.name, ErpOrderRequest.of(order, self._key(create)), f"create ERP order {order.order_id}"
            ),
            FirstCall.of(charge.name, ChargeRequest.of(order, self._key(charge)), f"charge {money}"),
            FirstCall.of(
                reserve.name, ReservationRequest.of(order, self._key(reserve)), f"reserve {len(order.lines)} SKU(s)"
            ),
            FirstCall.of(
                confirm.name,
                OrderRef(order_id=order.order_id, idempotency_key=self._key(confirm)),
                f"confirm ERP order {order.order_id}",
            ),
            FirstCall.of(
                commit.name,
                # The reservation's id comes from the reservation's answer, in the batch.
                ReservationRef(reservation_id="", idempotency_key=self._key(commit)),
                "commit the reservation",
                fill={"reservation_id": FillFrom(ref=reserve.name, field="reservation_id")},
                with_previous=True,
            ),
        ]

    def _key(self, activity: ActivityType[Any, Any]) -> str:
        """The idempotency key of `activity`'s call in this execution (see workflows/idempotency.py)."""
        return self._steps.key(activity)

    def _fence_input(self, _: Undo[Compensation], fence: Fence) -> StepFence:
        """A compensation's input: the keys it fences (workflows/steps.py), for this order."""
        return StepFence(
            order_id=self._order.order_id,
            step_key=fence.step_key,
            later_keys=list(fence.later_keys),
            idempotency_key=fence.key,
        )

    def _charge_failed(self, failure: FailureSummary | None) -> None:
        """A charge that failed (not one cancelled) decides the payment: declined by the provider, else refused."""
        if failure is not None:
            declined = failure.error_type in DECLINE_TYPES
            outcome = PaymentOutcome.DECLINED if declined else PaymentOutcome.REFUSED
            self._decide_payment(outcome, reason=failure.reason, error_type=failure.error_type)

    async def _charge(self, money: str) -> ChargeRecord:
        order = self._order
        if self._risk_check_applies():
            # Part of the charge step, not a step of its own: it gates the charge, a refusal is reported as the
            # charge step failing with `RiskRejected` (or, after a review, `ReviewRejected`/`ReviewExpired`), and
            # small orders keep the same four steps.
            review_allowed = self._decided_at_start or workflow.patched(MANUAL_REVIEW_PATCH)
            request = RiskAssessmentRequest.of(order, review_allowed=review_allowed)
            risk = await self._steps.call(activity_types.ASSESS_RISK, request, f"risk check of {money}")
            self._progress.risk = risk
            if risk.review_required:
                await self._await_review(risk, money)
        charge = activity_types.CHARGE_PAYMENT
        return await self._steps.call(charge, ChargeRequest.of(order, self._key(charge)), f"charge {money}")

    def _risk_check_applies(self) -> bool:
        """Large orders are risk-checked before their charge — but only executions that reached this point with the
        check in place. One that started earlier has charged without it, and must replay that way: `patched()` is
        False on replay of a history without the patch marker, True (recording the marker) otherwise. Asked only
        for large orders, so small orders' histories are unchanged; not asked at all by an execution that decided at
        its start (DECIDED_AT_START_PATCH). See docs/change-safety.md."""
        if self._order.total_amount < RISK_CHECK_THRESHOLD:
            return False
        return self._decided_at_start or workflow.patched(RISK_CHECK_PATCH)

    async def _await_review(self, risk: RiskAssessment, money: str) -> None:
        """Wait for a person's decision, until the order's review deadline. Returns on approval; raises (non-retryable,
        so the order is compensated) on rejection and when the deadline passes. Nothing is charged before approval,
        and the ERP order made so far is cancelled by the compensation of a refusal."""
        deadline_s = (
            workflow.memo_value(REVIEW_DEADLINE_MEMO, None, type_hint=int)
            or risk.review_deadline_s
            or int(DEFAULT_REVIEW_DEADLINE.total_seconds())
        )
        asked, why = workflow.now(), "; ".join(risk.reasons)
        review = self._progress.review = ReviewRecord(
            requested_at=timestamp(asked),
            deadline=timestamp(asked + timedelta(seconds=deadline_s)),
            reasons=risk.reasons,
        )
        metrics.review_requested()
        self._record(ProgressKind.REVIEW_REQUESTED, step=Step.CHARGE_PAYMENT, detail=why)
        self._set_state(OrderState.AWAITING_REVIEW, f"awaiting review of {money} until {review.deadline}: {why}")
        try:
            await workflow.wait_condition(
                lambda: self._review_decision is not None,
                timeout=timedelta(seconds=deadline_s),
                timeout_summary="review deadline",
            )
        except TimeoutError:
            # A decision that arrived in the same workflow task as the deadline still counts.
            if self._review_decision is None:
                self._decide_review(ReviewOutcome.EXPIRED, reviewer=None, reason=REVIEW_DEADLINE_PASSED, asked=asked)
        except asyncio.CancelledError:
            self._decide_review(ReviewOutcome.CANCELLED, reviewer=None, reason="cancelled on request", asked=asked)
            raise
        decision = self._review_decision
        if decision is not None:
            approved = decision.decision == ReviewVerdict.APPROVE
            outcome = ReviewOutcome.APPROVED if approved else ReviewOutcome.REJECTED
            self._decide_review(outcome, reviewer=decision.reviewer, reason=decision.reason, asked=asked)
        if review.outcome == ReviewOutcome.APPROVED:
            self._set_state(OrderState.RUNNING, f"review approved by {review.reviewer}: charging {money}")
            return
        if review.outcome == ReviewOutcome.EXPIRED:
            raise ApplicationError(REVIEW_DEADLINE_PASSED, type=REVIEW_EXPIRED, non_retryable=True)
        given = f": {review.reason}" if review.reason else " (no reason given)"
        raise ApplicationError(
            f"rejected in review by {review.reviewer}{given}", type=REVIEW_REJECTED, non_retryable=True
        )

    def _decide_review(
        self, outcome: ReviewOutcome, *, reviewer: str | None, reason: str | None, asked: datetime
    ) -> None:
        review = self._progress.review
        assert review is not None
        decided = workflow.now()
        review.outcome, review.reviewer, review.reason = outcome, reviewer, reason
        review.decided_at = timestamp(decided)
        metrics.review_decided(outcome.value, decided - asked)
        by = f" by {reviewer}" if reviewer else ""
        self._record(
            ProgressKind.REVIEW_DECIDED,
            step=Step.CHARGE_PAYMENT,
            detail=f"{outcome.value}{by}" + (f": {reason}" if reason else ""),
        )
        workflow.logger.info("order %s review %s%s", self._order.order_id, outcome.value, by)

    async def _confirm(self, reservation_id: str) -> None:
        confirm, commit = activity_types.CONFIRM_ERP_ORDER, activity_types.COMMIT_INVENTORY
        order_id = self._order.order_id
        calls = (
            lambda: self._steps.call(
                confirm,
                OrderRef(order_id=order_id, idempotency_key=self._key(confirm)),
                f"confirm ERP order {order_id}",
            ),
            lambda: self._steps.call(
                commit,
                ReservationRef(reservation_id=reservation_id, idempotency_key=self._key(commit)),
                f"commit {reservation_id}",
            ),
        )
        if not self._local_first:
            for call in calls:
                await call()
            return
        # Independent calls to two services: made together (one workflow task, one wait), and both over before a
        # failure of either is raised, so that no call is still in flight when the compensations start.
        outcomes = await asyncio.gather(*(call() for call in calls), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    # ---- compensation -------------------------------------------------------------------------------------------

    async def _compensate(self) -> None:
        self._set_state(OrderState.COMPENSATING, f"compensating: {self._progress.reason}")
        await self._steps.compensate(on_stuck=self._wait_for_operator)
        metrics.compensations_ran(self._progress.compensations)
        self._progress.current_step = None
        self._set_state(OrderState.COMPENSATED, f"compensated: {self._progress.reason}")

    async def _compensate_despite_cancellation(self) -> None:
        """Run the compensations to the end whatever interrupts them: a cancel of an order that is already
        compensating (or waiting for an operator in needs_attention), a second cancel, an update. The execution never
        closes while a compensation is pending — closing would abandon the charge it has yet to refund."""
        await to_the_end(self._compensate(), on_cancel=self._cancelled_while_compensating)

    def _cancelled_while_compensating(self) -> None:
        workflow.logger.warning(
            "cancel of order %s while compensating: the compensations finish first", self._order.order_id
        )

    async def _wait_for_operator(self) -> None:
        failed_records = [r for r in self._progress.compensations if r.status == "failed"]
        metrics.compensations_ran(failed_records)
        failed = [r.action.value for r in failed_records]
        self._set_state(OrderState.NEEDS_ATTENTION, f"needs attention: compensation failed ({', '.join(failed)})")
        workflow.logger.error("Order %s needs an operator: compensations %s failed", self._order.order_id, failed)
        await self._steps.wait_for_operator()
        self._set_state(OrderState.COMPENSATING, "compensating: operator asked for a retry")

    def _record(self, kind: ProgressKind, *, detail: str | None = None, **about: Any) -> None:
        self._events.append(
            ProgressEvent(
                seq=len(self._events) + 1,
                kind=kind,
                state=self._progress.state,
                detail=detail,
                at=timestamp(workflow.now()),
                **about,
            )
        )

    def _decide_payment(self, outcome: PaymentOutcome, **details: Any) -> None:
        """The first decision stands: a charge later refunded was still charged when the checkout asked."""
        if self._progress.payment is None:
            self._progress.payment = PaymentDecision(outcome=outcome, **details)

    def _set_state(self, state: OrderState, details: str) -> None:
        self._progress.state = state
        self._record(ProgressKind.STATE, detail=details)
        workflow.logger.info("order %s", details, extra={"state": state.value})
        # Only executions started with Cadenza's search attributes keep them up to date: one started without them
        # (a namespace where they are not registered, the time-skipping test server) must not fail on the upsert.
        if self._indexed:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(state.value)])
        self._set_details(details)

    def _set_details(self, details: str) -> None:
        workflow.set_current_details(f"{self._order.describe()} — {details}")


# Confirming needs no compensation of its own: cancelling the ERP order and releasing the reservation also undo a
# confirmed order and a committed reservation, and fence the confirmation's and the commit's keys.
_UNDO: dict[Step, Undo[Compensation]] = {
    Step.CREATE_ERP_ORDER: Undo(
        Compensation.CANCEL_ERP_ORDER,
        activity_types.CANCEL_ERP_ORDER,
        fences=activity_types.CREATE_ERP_ORDER.name,
        summary="cancel ERP order",
        later=(activity_types.CONFIRM_ERP_ORDER.name,),
    ),
    Step.CHARGE_PAYMENT: Undo(
        Compensation.REFUND_PAYMENT,
        activity_types.REFUND_PAYMENT,
        fences=activity_types.CHARGE_PAYMENT.name,
        summary="refund charges",
        later=(),
    ),
    Step.RESERVE_INVENTORY: Undo(
        Compensation.RELEASE_INVENTORY,
        activity_types.RELEASE_INVENTORY,
        fences=activity_types.RESERVE_INVENTORY.name,
        summary="release stock",
        later=(activity_types.COMMIT_INVENTORY.name,),
    ),
}


ORDER_PLAN: Plan[Step, Compensation] = Plan(
    steps=tuple(Step), undo=_UNDO, options=ORDER_OPTIONS, parallel_compensation=PARALLEL_COMPENSATION
)
"""OrderWorkflow's saga as the step runner (workflows/steps.py) runs it."""
