"""HTTP routes of the payment provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from services.common.database import Database
from services.common.error_docs import IDEMPOTENT, VALIDATED, error_docs, not_found
from services.common.errors import ServiceError
from services.common.fence_routes import build_fence_router
from services.common.fences import Undo, nothing_to_void
from services.common.fields import issued_id_path
from services.common.idempotency import StoredAnswer
from services.common.keys import Mutation
from services.common.mutations import Outcome
from services.common.pagination import PageQuery
from services.payment.cards import card_for_token
from services.payment.models import Charge, ChargeList, CreateChargeRequest, CreateRefundRequest, Refund, RefundList
from services.payment.store import PaymentLedger

ChargeId = Annotated[str, issued_id_path("charge", "ch")]

_UNKNOWN_CHARGE = not_found("charge")


def build_router(database: Database) -> APIRouter:
    """The ``/charges`` and ``/refunds`` routes over the given database."""
    ledger = PaymentLedger(database)
    router = APIRouter(tags=["payments"])

    def void_charge(stored: StoredAnswer) -> Undo:
        """A fenced charge is refunded in full (whatever is left of it)."""
        if stored.request.path != "/charges":
            return nothing_to_void(stored)
        charge = ledger.get_charge(stored.body["id"])
        if charge.refundable_amount == 0:
            return Undo(resource_id=charge.id, undone=False, detail=f"charge {charge.id} was already refunded")
        refund = ledger.refund(charge.id, None)
        return Undo(
            resource_id=charge.id, undone=True, detail=f"refunded {charge.id} ({refund.amount} {refund.currency})"
        )

    router.include_router(build_fence_router(void_charge))

    def charge_card(body: CreateChargeRequest) -> Outcome:
        charge = ledger.charge(body, card_for_token(body.payment_token))
        if charge.failure_code is None:
            return Outcome.created(charge)
        # Like Stripe: the declined attempt exists as a failed charge, and the
        # caller gets a 402 card error that names it.
        decline = ServiceError(402, charge.failure_code, charge.failure_message or "", charge=charge.id)
        return Outcome.failed(decline)

    @router.post(
        "/charges",
        status_code=201,
        response_model=Charge,
        responses=error_docs(
            VALIDATED,
            IDEMPOTENT,
            {
                400: "`invalid_payment_token`: not one of the test tokens; nothing was recorded",
                402: "`card_declined` or `insufficient_funds`: recorded as a failed charge, named in `charge`",
            },
        ),
        summary="Charge a card",
        operation_id="createCharge",
    )
    async def create_charge(body: CreateChargeRequest, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(body, lambda: charge_card(body))

    @router.post(
        "/charges/{charge_id}/refunds",
        status_code=201,
        response_model=Refund,
        responses=error_docs(
            VALIDATED,
            IDEMPOTENT,
            _UNKNOWN_CHARGE,
            {
                409: "`charge_not_refundable` (the charge failed), `charge_already_refunded`, or `amount_too_large` "
                "(more than is left on the charge; `refundable` says how much is)"
            },
        ),
        summary="Refund a charge",
        operation_id="refundCharge",
    )
    async def create_refund(
        charge_id: ChargeId, mutation: Mutation, body: Annotated[CreateRefundRequest | None, Body()] = None
    ) -> JSONResponse:
        # An empty body and {} mean the same request, so they must hash the same.
        body = body or CreateRefundRequest()
        return await mutation.apply(body, lambda: Outcome.created(ledger.refund(charge_id, body.amount)))

    @router.get(
        "/charges/{charge_id}",
        responses=error_docs(_UNKNOWN_CHARGE),
        summary="Read one charge",
        operation_id="readCharge",
    )
    async def read_charge(charge_id: ChargeId) -> Charge:
        return ledger.get_charge(charge_id)

    @router.get("/charges", summary="List charges of every status, oldest first", operation_id="listCharges")
    async def list_charges(page: PageQuery, order_id: Annotated[str | None, Query(max_length=64)] = None) -> ChargeList:
        return ChargeList(charges=ledger.list_charges(page, order_id))

    @router.get("/refunds", summary="List refunds, oldest first", operation_id="listRefunds")
    async def list_refunds(
        page: PageQuery, charge_id: Annotated[str | None, Query(max_length=64)] = None
    ) -> RefundList:
        return RefundList(refunds=ledger.list_refunds(page, charge_id))

    return router
