"""One activity per fulfilment step and per compensation, registered under the names workflows/activity_types.py
declares (the workflow calls them by name).

Every mutating call carries the idempotency key the workflow made for it (one execution of one order, one
operation), so a retry after a lost reply replays the first answer instead of acting twice. Each compensation fences
its step's key at the service (services/common/fences.py): the service undoes exactly what that request did, or,
if it has not arrived yet, refuses it when it does. That is why compensations can be registered *before* their step
(see workflows/saga.py) and still never touch anything the step did not do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.first_attempts import Call, make_first_attempts
from activities.http import ServiceClient, ServiceClients
from activities.risk import assess, rejection
from workflows import activity_types
from workflows.first_attempts import FirstAttempts, FirstAttemptsDone
from workflows.idempotency import idempotency_key
from workflows.models import (
    ChargeRecord,
    ChargeRequest,
    CompensationOutcome,
    ErpOrderRecord,
    ErpOrderRequest,
    OrderRef,
    ReservationRecord,
    ReservationRef,
    ReservationRequest,
    RiskAssessment,
    RiskAssessmentRequest,
    Step,
    StepFence,
)
from workflows.policies import review_deadline_from_env


def _key(given: str | None, operation: str) -> str:
    """The key the workflow gave, or — for an input recorded before keys travelled with it — the key such an
    execution used: workflow id + operation."""
    if given:
        return given
    workflow_id = activity.info().workflow_id
    if workflow_id is None:  # a standalone activity has no workflow to name the key after
        raise RuntimeError(f"{operation} was called without an idempotency key outside a workflow")
    return idempotency_key(workflow_id, operation)


class OrderActivities:
    """The activities of `OrderWorkflow`, bound to the worker's shared HTTP clients."""

    def __init__(self, clients: ServiceClients) -> None:
        self._clients = clients
        # Read once, so that a bad value stops the worker at start rather than failing orders one by one.
        deadline = review_deadline_from_env()
        self._review_deadline_s = int(deadline.total_seconds()) if deadline else None

    # ---- forward steps ------------------------------------------------------------------------------------------

    @activity.defn(name=activity_types.CREATE_ERP_ORDER.name)
    async def create_erp_order(self, request: ErpOrderRequest) -> ErpOrderRecord:
        response = await self._clients.erp.post(
            "/orders", request.body(), idempotency_key=_key(request.idempotency_key, Step.CREATE_ERP_ORDER)
        )
        body = response.json()
        return ErpOrderRecord(order_id=body["order_id"], status=body["status"])

    @activity.defn(name=activity_types.ASSESS_RISK.name)
    async def assess_risk(self, request: RiskAssessmentRequest) -> RiskAssessment:
        """Approve a large order before its charge, refer it to a person (with this worker's review deadline), or
        refuse it with a non-retryable `RiskRejected` error."""
        assessment = assess(request)
        if assessment.review_required:
            return assessment.model_copy(update={"review_deadline_s": self._review_deadline_s})
        if not assessment.approved:
            raise rejection(request, assessment)
        return assessment

    @activity.defn(name=activity_types.CHARGE_PAYMENT.name)
    async def charge_payment(self, request: ChargeRequest) -> ChargeRecord:
        response = await self._clients.payment.post(
            "/charges", request.body(), idempotency_key=_key(request.idempotency_key, Step.CHARGE_PAYMENT)
        )
        body = response.json()
        return ChargeRecord(charge_id=body["id"], amount=body["amount"], currency=body["currency"])

    @activity.defn(name=activity_types.RESERVE_INVENTORY.name)
    async def reserve_inventory(self, request: ReservationRequest) -> ReservationRecord:
        response = await self._clients.inventory.post(
            "/reservations", request.body(), idempotency_key=_key(request.idempotency_key, Step.RESERVE_INVENTORY)
        )
        body = response.json()
        return ReservationRecord(reservation_id=body["id"], status=body["status"])

    @activity.defn(name=activity_types.CONFIRM_ERP_ORDER.name)
    async def confirm_erp_order(self, order: OrderRef) -> ErpOrderRecord:
        response = await self._clients.erp.post(
            f"/orders/{order.order_id}/confirm", None, idempotency_key=_key(order.idempotency_key, "confirm_erp_order")
        )
        return ErpOrderRecord(order_id=order.order_id, status=response.json()["status"])

    @activity.defn(name=activity_types.COMMIT_INVENTORY.name)
    async def commit_inventory(self, reservation: ReservationRef) -> ReservationRecord:
        response = await self._clients.inventory.post(
            f"/reservations/{reservation.reservation_id}/commit",
            None,
            idempotency_key=_key(reservation.idempotency_key, "commit_inventory"),
        )
        return ReservationRecord(reservation_id=reservation.reservation_id, status=response.json()["status"])

    @activity.defn(name=activity_types.FIRST_ATTEMPTS.name)
    async def first_attempts(self, batch: FirstAttempts) -> FirstAttemptsDone:
        """The first attempts of several forward steps in one local activity (workflows/first_attempts.py)."""
        steps: dict[str, Call] = {
            activity_types.CREATE_ERP_ORDER.name: self.create_erp_order,
            activity_types.ASSESS_RISK.name: self.assess_risk,
            activity_types.CHARGE_PAYMENT.name: self.charge_payment,
            activity_types.RESERVE_INVENTORY.name: self.reserve_inventory,
            activity_types.CONFIRM_ERP_ORDER.name: self.confirm_erp_order,
            activity_types.COMMIT_INVENTORY.name: self.commit_inventory,
        }
        return await make_first_attempts(
            batch, steps, activity_types.ORDER_STEP_INPUTS, activity_types.ORDER_STEP_RESULTS
        )

    # ---- compensations: each fences the key of the step it undoes ---------------------------------------------

    @activity.defn(name=activity_types.CANCEL_ERP_ORDER.name)
    async def cancel_erp_order(self, fence: StepFence) -> CompensationOutcome:
        return await _fence(self._clients.erp, fence, Step.CREATE_ERP_ORDER, "cancel_erp_order")

    @activity.defn(name=activity_types.REFUND_PAYMENT.name)
    async def refund_payment(self, fence: StepFence) -> CompensationOutcome:
        return await _fence(self._clients.payment, fence, Step.CHARGE_PAYMENT, "refund_payment")

    @activity.defn(name=activity_types.RELEASE_INVENTORY.name)
    async def release_inventory(self, fence: StepFence) -> CompensationOutcome:
        return await _fence(self._clients.inventory, fence, Step.RESERVE_INVENTORY, "release_inventory")

    def all(self) -> list[Callable[..., Any]]:
        """Every activity, for registering with a worker."""
        return [
            self.create_erp_order,
            self.assess_risk,
            self.charge_payment,
            self.reserve_inventory,
            self.confirm_erp_order,
            self.commit_inventory,
            self.first_attempts,
            self.cancel_erp_order,
            self.refund_payment,
            self.release_inventory,
        ]


async def _fence(service: ServiceClient, fence: StepFence, step: Step, compensation: str) -> CompensationOutcome:
    """Undo what the step's request did, and make sure it never does it later. A repeat (after a lost reply) answers
    what the first fence undid, so the outcome is the same however often this runs."""
    own_key = _key(fence.idempotency_key, compensation)
    # The later calls first: once the record is undone, nothing may replay a success of theirs. A fence carries a key
    # of its own like every mutating call; each fence of this compensation gets one.
    for number, later in enumerate(fence.later_keys, start=1):
        await service.fence(later, idempotency_key=f"{own_key}/later-{number}")
    outcome = await service.fence(_key(fence.step_key, step), idempotency_key=own_key)
    return CompensationOutcome(undone=outcome["undone"], detail=outcome["detail"])
