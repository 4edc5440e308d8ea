"""Payment request and response bodies."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, computed_field

from services.common.fields import Amount, Currency, ExternalId, RequestModel
from services.common.identifiers import id_pattern
from services.payment.cards import TEST_TOKENS


class ChargeStatus(StrEnum):
    """A charge either moved money or was declined; there is no pending state in this simulation."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CreateChargeRequest(RequestModel):
    """Body of ``POST /charges``."""

    order_id: ExternalId
    amount: Amount
    currency: Currency
    # The enum is published, not enforced here: any other token answers 400 `invalid_payment_token` from
    # cards.card_for_token, which never echoes it (a token is a credential).
    payment_token: str = Field(
        min_length=1,
        max_length=255,
        description="Test token: tok_visa, tok_mastercard (succeed), tok_chargeDeclined, tok_insufficientFunds (402)",
        examples=["tok_visa"],
        json_schema_extra={"enum": list(TEST_TOKENS)},
    )


class CreateRefundRequest(RequestModel):
    """Body of ``POST /charges/{charge_id}/refunds``; no amount means everything not yet refunded."""

    amount: Amount | None = None


class Charge(BaseModel):
    """A charge attempt, successful or declined."""

    id: str = Field(pattern=id_pattern("ch"))
    order_id: str
    amount: int
    currency: str
    status: ChargeStatus
    amount_refunded: int
    card_brand: str
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def refunded(self) -> bool:
        """True once the whole amount has been refunded."""
        return self.status is ChargeStatus.SUCCEEDED and self.amount_refunded == self.amount

    @property
    def refundable_amount(self) -> int:
        """What can still be refunded."""
        return self.amount - self.amount_refunded if self.status is ChargeStatus.SUCCEEDED else 0


class Refund(BaseModel):
    """Money returned from a charge."""

    id: str = Field(pattern=id_pattern("re"))
    charge_id: str = Field(pattern=id_pattern("ch"))
    amount: int
    currency: str
    status: str = "succeeded"
    created_at: str


class ChargeList(BaseModel):
    """Body of ``GET /charges``."""

    charges: list[Charge]


class RefundList(BaseModel):
    """Body of ``GET /refunds``."""

    refunds: list[Refund]
