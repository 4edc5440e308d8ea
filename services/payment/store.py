"""The payment provider's ledger of charges and refunds."""

from __future__ import annotations

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import new_id, utc_now
from services.common.pagination import Page, fetch_page
from services.payment.cards import TestCard
from services.payment.models import Charge, ChargeStatus, CreateChargeRequest, Refund


class PaymentLedger:
    """Records charges and refunds; mutating methods expect to run inside a transaction.

    Several charges per order are allowed on purpose: a real provider does not
    know that two charges are "the same" payment, and preventing a double
    charge is the orchestrator's job.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    def charge(self, request: CreateChargeRequest, card: TestCard) -> Charge:
        """Record a charge attempt; a declining card is recorded as ``failed``, never as succeeded."""
        charge = Charge(
            id=new_id("ch"),
            order_id=request.order_id,
            amount=request.amount,
            currency=request.currency,
            status=ChargeStatus.FAILED if card.decline else ChargeStatus.SUCCEEDED,
            amount_refunded=0,
            card_brand=card.brand,
            failure_code=card.decline.code if card.decline else None,
            failure_message=card.decline.message if card.decline else None,
            created_at=utc_now(),
        )
        self._database.insert("charges", charge.model_dump(exclude={"refunded"}))
        return charge

    def get_charge(self, charge_id: str) -> Charge:
        """The charge; 404 ``charge_not_found`` if there is none."""
        row = self._database.fetch_one("SELECT * FROM charges WHERE id = ?", (charge_id,))
        if row is None:
            raise ServiceError(404, "charge_not_found", f"No charge {charge_id!r}", charge_id=charge_id)
        return Charge.model_validate(dict(row))

    def list_charges(self, page: Page, order_id: str | None = None) -> list[Charge]:
        """Charges of every status, oldest first, optionally of one order."""
        rows = fetch_page(self._database, "charges", page, order_id=order_id)
        return [Charge.model_validate(dict(row)) for row in rows]

    def refund(self, charge_id: str, amount: int | None) -> Refund:
        """Return ``amount`` (default: all that is left) of a successful charge."""
        charge = self.get_charge(charge_id)
        if charge.status is not ChargeStatus.SUCCEEDED:
            raise ServiceError(
                409,
                "charge_not_refundable",
                f"Charge {charge_id!r} failed; there is nothing to refund",
                charge_id=charge_id,
            )
        if charge.refunded:
            raise ServiceError(
                409, "charge_already_refunded", f"Charge {charge_id!r} is already fully refunded", charge_id=charge_id
            )
        amount = charge.refundable_amount if amount is None else amount
        if amount > charge.refundable_amount:
            # 409 like `charge_already_refunded` and the inventory's `out_of_stock`: the request is well formed and
            # conflicts with what is left on the charge now.
            raise ServiceError(
                409,
                "amount_too_large",
                f"Refund of {amount} exceeds the {charge.refundable_amount} left on charge {charge_id!r}",
                charge_id=charge_id,
                requested=amount,
                refundable=charge.refundable_amount,
            )
        refund = Refund(
            id=new_id("re"), charge_id=charge_id, amount=amount, currency=charge.currency, created_at=utc_now()
        )
        self._database.insert("refunds", refund.model_dump(exclude={"status"}))
        self._database.execute(
            "UPDATE charges SET amount_refunded = amount_refunded + ? WHERE id = ?", (amount, charge_id)
        )
        return refund

    def list_refunds(self, page: Page, charge_id: str | None = None) -> list[Refund]:
        """Refunds, oldest first, optionally of one charge."""
        rows = fetch_page(self._database, "refunds", page, charge_id=charge_id)
        return [Refund.model_validate(dict(row)) for row in rows]
