"""One activity per fulfilment step and per compensation.

Every mutating call carries an idempotency key derived from the workflow id and the operation, so a retry after a
lost reply replays the first answer instead of acting twice. Compensations look up what to undo by order id and
succeed when there is nothing to undo: the saga registers them *before* their step runs (see workflows/saga.py).
"""

from __future__ import annotations

from temporalio import activity

from activities.http import ServiceClients
from activities.idempotency import idempotency_key
from activities.risk import assess, rejection
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
)

_NOT_FOUND = (404,)
# A refund that another attempt already made is no error for a compensation.
_ALREADY_REFUNDED = (409,)


def _key(operation: str, *qualifiers: str) -> str:
    return idempotency_key(activity.info().workflow_id, operation, *qualifiers)


class OrderActivities:
    """The activities of `OrderWorkflow`, bound to the worker's shared HTTP clients."""

    def __init__(self, clients: ServiceClients) -> None:
        self._clients = clients

    # ---- forward steps ------------------------------------------------------------------------------------------

    @activity.defn
    async def create_erp_order(self, request: ErpOrderRequest) -> ErpOrderRecord:
        response = await self._clients.erp.post(
            "/orders", request.model_dump(mode="json"), idempotency_key=_key("create_erp_order")
        )
        body = response.json()
        return ErpOrderRecord(order_id=body["order_id"], status=body["status"])

    @activity.defn
    async def assess_risk(self, request: RiskAssessmentRequest) -> RiskAssessment:
        """Approve a large order before its charge, or refuse it with a non-retryable `RiskRejected` error."""
        assessment = assess(request)
        if not assessment.approved:
            raise rejection(request, assessment)
        return assessment

    @activity.defn
    async def charge_payment(self, request: ChargeRequest) -> ChargeRecord:
        response = await self._clients.payment.post(
            "/charges", request.model_dump(mode="json"), idempotency_key=_key("charge_payment")
        )
        body = response.json()
        return ChargeRecord(charge_id=body["id"], amount=body["amount"], currency=body["currency"])

    @activity.defn
    async def reserve_inventory(self, request: ReservationRequest) -> ReservationRecord:
        response = await self._clients.inventory.post(
            "/reservations", request.model_dump(mode="json"), idempotency_key=_key("reserve_inventory")
        )
        body = response.json()
        return ReservationRecord(reservation_id=body["id"], status=body["status"])

    @activity.defn
    async def confirm_erp_order(self, order: OrderRef) -> ErpOrderRecord:
        response = await self._clients.erp.post(
            f"/orders/{order.order_id}/confirm", None, idempotency_key=_key("confirm_erp_order")
        )
        return ErpOrderRecord(order_id=order.order_id, status=response.json()["status"])

    @activity.defn
    async def commit_inventory(self, reservation: ReservationRef) -> ReservationRecord:
        response = await self._clients.inventory.post(
            f"/reservations/{reservation.reservation_id}/commit", None, idempotency_key=_key("commit_inventory")
        )
        return ReservationRecord(reservation_id=reservation.reservation_id, status=response.json()["status"])

    # ---- compensations ------------------------------------------------------------------------------------------

    @activity.defn
    async def cancel_erp_order(self, order: OrderRef) -> CompensationOutcome:
        response = await self._clients.erp.post(
            f"/orders/{order.order_id}/cancel", None, idempotency_key=_key("cancel_erp_order"), accept=_NOT_FOUND
        )
        if response.status_code == 404:
            return CompensationOutcome(undone=False, detail="no ERP order to cancel")
        return CompensationOutcome(undone=True, detail=f"ERP order {order.order_id} cancelled")

    @activity.defn
    async def refund_payment(self, order: OrderRef) -> CompensationOutcome:
        listing = await self._clients.payment.get_json("/charges", {"order_id": order.order_id})
        refundable = [c for c in listing["charges"] if c["status"] == "succeeded" and not c["refunded"]]
        for charge in refundable:
            await self._clients.payment.post(
                f"/charges/{charge['id']}/refunds",
                {},
                idempotency_key=_key("refund_payment", charge["id"]),
                accept=_ALREADY_REFUNDED,
            )
        if not refundable:
            return CompensationOutcome(undone=False, detail="no charge to refund")
        return CompensationOutcome(undone=True, detail="refunded " + ", ".join(c["id"] for c in refundable))

    @activity.defn
    async def release_inventory(self, order: OrderRef) -> CompensationOutcome:
        listing = await self._clients.inventory.get_json("/reservations", {"order_id": order.order_id})
        releasable = [r for r in listing["reservations"] if r["status"] in ("held", "committed")]
        for reservation in releasable:
            await self._clients.inventory.post(
                f"/reservations/{reservation['id']}/release",
                None,
                idempotency_key=_key("release_inventory", reservation["id"]),
            )
        if not releasable:
            return CompensationOutcome(undone=False, detail="no reservation to release")
        return CompensationOutcome(undone=True, detail="released " + ", ".join(r["id"] for r in releasable))

    def all(self) -> list:
        """Every activity, for registering with a worker."""
        return [
            self.create_erp_order,
            self.assess_risk,
            self.charge_payment,
            self.reserve_inventory,
            self.confirm_erp_order,
            self.commit_inventory,
            self.cancel_erp_order,
            self.refund_payment,
            self.release_inventory,
        ]
