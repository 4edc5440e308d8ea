"""The data contract shared by starters, the workflow and activities.

Money is always an integer amount of minor units (cents) with an ISO-4217 currency: no floats ever touch a price.
An `Order` carries a payment *token* (as issued by the payment provider's client-side tokenisation), never card
data: card-number-like input is refused here, before anything reaches Temporal's history.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cadenza.decisions import DecisionProof

# Largest amount any single order may total, in minor units (10 billion in major units): beyond it we refuse the
# order rather than risk overflow in a downstream system that stores 64-bit cents.
MAX_AMOUNT = 10**12
# Orders totalling at least this many minor units (1,000.00 in a two-decimal currency) are risk-checked before the
# charge (activities/risk.py). Below it, a fraud-service call would cost more than the losses it prevents.
RISK_CHECK_THRESHOLD = 100_000
CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD"})
WORKFLOW_ID_PREFIX = "order-"

_CARD_NUMBER = re.compile(r"^[\d\s-]{12,23}$")
PAYMENT_TOKEN_PATTERN = r"tok_[A-Za-z0-9_]{1,64}"
"""A payment-provider token, as `Order.payment_token` takes it (the Order API's document states it)."""
# Deliberately loose (one @, a dot in the domain, no spaces): the ERP's mail system is the judge of deliverability.
_EMAIL = r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]+$"

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Z0-9][A-Z0-9_-]*$")]


class _Model(BaseModel):
    """Models recorded in workflow history (activity inputs and results) and read back on every replay. Tolerant on
    purpose: a field a newer activity adds is ignored rather than failing an open order's replay."""

    model_config = ConfigDict(extra="ignore", frozen=True)


# What a client sends is validated at the edge (CLI, Order API), where unknown fields are refused.
_STRICT = ConfigDict(extra="forbid", frozen=True)


# ---- the order: tolerant as stored in history, strict where it is placed ---------------------------------------------
#
# The workflow's input is decoded — and validated — again on every replay of an open order. A business rule tightened
# later (a currency dropped, a stricter token pattern, a lower limit) must not wedge an order placed under the old rule:
# the workflow takes a `StoredOrder` (types only), and the rules live in `Order`, which the CLI and the API validate
# before anything starts. Both serialise to the same JSON.


class StoredOrderLine(_Model):
    sku: str
    quantity: int
    unit_price: int = Field(description="Price of one unit, in minor units (cents).")


class StoredAddress(_Model):
    line1: str
    line2: str | None = None
    postal_code: str
    city: str
    country: str


class StoredOrder(_Model):
    """An order as the workflow receives it (and history keeps it): its shape, none of the business rules.

    The customer's name, e-mail and shipping address are personal data: they travel only inside payloads, which are
    encrypted (cadenza/codec.py), never in the workflow id, search attributes, `describe()` (the Web UI's summary) or
    a log line; `repr=False` keeps them out of any repr that ends up logged. Optional: orders recorded before they
    existed have none, and must still replay."""

    order_id: str
    customer_id: str
    currency: str
    payment_token: str = Field(repr=False)
    lines: list[StoredOrderLine]
    customer_name: str | None = Field(default=None, repr=False)
    customer_email: str | None = Field(default=None, repr=False)
    shipping_address: StoredAddress | None = Field(default=None, repr=False)

    # A plain property, not a field: the total is derived from the lines, never sent alongside them to disagree.
    @property
    def total_amount(self) -> int:
        return sum(line.quantity * line.unit_price for line in self.lines)

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.order_id)

    def describe(self) -> str:
        """One line for humans and the Web UI, free of payment data."""
        items = sum(line.quantity for line in self.lines)
        money = format_money(self.total_amount, self.currency)
        return f"{items} item{'s' if items != 1 else ''}, {money}, customer {self.customer_id}"


class OrderLine(StoredOrderLine):
    model_config = _STRICT

    sku: Sku
    quantity: int = Field(ge=1, le=10_000)
    unit_price: int = Field(ge=0, le=MAX_AMOUNT, description="Price of one unit, in minor units (cents).")


class ShippingAddress(StoredAddress):
    model_config = _STRICT

    line1: str = Field(min_length=1, max_length=200, description="Street and number.")
    line2: str | None = Field(default=None, min_length=1, max_length=200)
    postal_code: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$")
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO-3166 alpha-2 code, e.g. DE.")


class Order(StoredOrder):
    """An order as placed by a customer, with every business rule: what the CLI and the Order API accept."""

    model_config = _STRICT

    order_id: Identifier
    customer_id: Identifier
    currency: str = Field(description="ISO-4217 code, e.g. EUR.")
    payment_token: str = Field(
        repr=False, description="A payment-provider token such as tok_visa; never a card number."
    )
    # Narrower than StoredOrder's list[StoredOrderLine] on purpose (the edge is strict); mypy objects only because a
    # list is invariant, and nothing appends a stored line to an Order.
    lines: list[OrderLine] = Field(min_length=1, max_length=100)  # type: ignore[assignment]
    customer_name: str | None = Field(default=None, min_length=1, max_length=200, repr=False)
    customer_email: str | None = Field(default=None, max_length=254, pattern=_EMAIL, repr=False)
    shipping_address: ShippingAddress | None = Field(default=None, repr=False)

    @field_validator("customer_name")
    @classmethod
    def _printable_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or not value.isprintable()):
            raise ValueError("must be printable text, not blank")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError(f"unknown currency {value!r}; use one of {', '.join(sorted(CURRENCIES))}")
        return value

    @field_validator("payment_token")
    @classmethod
    def _token_not_card(cls, value: str) -> str:
        if _CARD_NUMBER.match(value):
            raise ValueError("looks like a card number; pass the payment provider's token (e.g. tok_visa) instead")
        if not re.fullmatch(PAYMENT_TOKEN_PATTERN, value):
            raise ValueError("must be a payment token such as tok_visa")
        return value

    @model_validator(mode="after")
    def _lines_consistent(self) -> Order:
        skus = [line.sku for line in self.lines]
        duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
        if duplicates:
            raise ValueError(f"lines: SKU {', '.join(duplicates)} appears more than once; merge the quantities")
        if self.total_amount <= 0:
            raise ValueError("lines: the order totals 0; a charge needs a positive amount")
        if self.total_amount > MAX_AMOUNT:
            raise ValueError(
                f"lines: the order totals {self.total_amount}, above the limit of {MAX_AMOUNT} minor units"
            )
        return self


def workflow_id_for(order_id: str) -> str:
    """The workflow id is derived from the order id, so placing the same order twice can never start a second run."""
    return f"{WORKFLOW_ID_PREFIX}{order_id}"


def format_money(amount: int, currency: str) -> str:
    # JPY has no minor unit; every other allowed currency has two decimals.
    if currency == "JPY":
        return f"{amount} {currency}"
    return f"{amount // 100}.{amount % 100:02d} {currency}"


class Step(StrEnum):
    """The forward steps of fulfilment, in the order they run."""

    CREATE_ERP_ORDER = "create_erp_order"
    CHARGE_PAYMENT = "charge_payment"
    RESERVE_INVENTORY = "reserve_inventory"
    CONFIRM_ORDER = "confirm_order"


class Compensation(StrEnum):
    CANCEL_ERP_ORDER = "cancel_erp_order"
    REFUND_PAYMENT = "refund_payment"
    RELEASE_INVENTORY = "release_inventory"


class OrderState(StrEnum):
    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    NEEDS_ATTENTION = "needs_attention"
    AWAITING_REVIEW = "awaiting_review"
    """A large order waits for a person to approve or reject it (`review`), until its review deadline."""


class CompensationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# ---- activity inputs and outputs: one model in, one model out ------------------------------------------------


class StockLine(_Model):
    sku: str
    quantity: int


class _KeyedCall(_Model):
    """An activity input for a call that changes something: it carries the call's idempotency key.

    The workflow makes the key (workflows/idempotency.py), so it names one execution of one order. `None` only in
    inputs recorded before keys travelled this way; the activity then derives the key it used to."""

    idempotency_key: str | None = Field(
        default=None, description="Sent as the Idempotency-Key header, not in the body."
    )

    def body(self) -> dict[str, Any]:
        """The HTTP request body: the input without its key."""
        return self.model_dump(mode="json", exclude={"idempotency_key"})


class _OrderExcerpt(_KeyedCall):
    """An activity input made of some of the order's own fields, under the same names: `of(order)` copies them."""

    # Fields that are not the order's own: given to `of` by name.
    _not_from_order: ClassVar[frozenset[str]] = frozenset({"idempotency_key"})

    @classmethod
    def of(cls, order: StoredOrder, idempotency_key: str | None = None, **others: Any) -> Self:
        fields = {name: getattr(order, name) for name in cls.model_fields if name not in cls._not_from_order}
        return cls(**fields, **others, idempotency_key=idempotency_key)


_CONTACT = frozenset({"customer_name", "customer_email", "shipping_address"})


class ErpOrderRequest(_OrderExcerpt):
    order_id: str
    customer_id: str
    currency: str
    total_amount: int
    lines: list[StoredOrderLine]
    # What the ERP ships with. Left out of the body when absent: orders placed before these fields existed (and ERPs
    # that do not know them yet) see the same request as before.
    customer_name: str | None = Field(default=None, repr=False)
    customer_email: str | None = Field(default=None, repr=False)
    shipping_address: StoredAddress | None = Field(default=None, repr=False)

    def body(self) -> dict[str, Any]:
        return {name: value for name, value in super().body().items() if value is not None or name not in _CONTACT}


class ErpOrderRecord(_Model):
    order_id: str
    status: str


class ChargeRequest(_KeyedCall):
    order_id: str
    amount: int
    currency: str
    payment_token: str = Field(repr=False)

    @classmethod
    def of(cls, order: StoredOrder, idempotency_key: str | None = None) -> ChargeRequest:
        return cls(
            order_id=order.order_id,
            amount=order.total_amount,
            currency=order.currency,
            payment_token=order.payment_token,
            idempotency_key=idempotency_key,
        )


class ChargeRecord(_Model):
    charge_id: str
    amount: int
    currency: str


class ReservationRequest(_KeyedCall):
    order_id: str
    lines: list[StockLine]

    @classmethod
    def of(cls, order: StoredOrder, idempotency_key: str | None = None) -> ReservationRequest:
        return cls(
            order_id=order.order_id,
            lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in order.lines],
            idempotency_key=idempotency_key,
        )


class ReservationRecord(_Model):
    reservation_id: str
    status: str


class ReservationRef(_KeyedCall):
    reservation_id: str


class RiskAssessmentRequest(_OrderExcerpt):
    """What the risk check looks at: who pays how much for what, and with which payment token."""

    order_id: str
    customer_id: str
    currency: str
    total_amount: int
    payment_token: str = Field(repr=False)
    lines: list[StoredOrderLine]
    _not_from_order: ClassVar[frozenset[str]] = frozenset({"idempotency_key", "review_allowed"})
    review_allowed: bool = Field(
        default=False,
        description="The workflow can wait for a person: refer orders that need one instead of refusing them. False "
        "from workflow code that cannot (an execution started before manual review): it gets the refusal it expects.",
    )


class RiskAssessment(_Model):
    """An approval, or a referral to a person (`review_required`); a refusal is a `RiskRejected` error instead. The
    score and what raised it, for the record."""

    approved: bool
    score: int = Field(ge=0, le=100, description="0 = no risk seen; 100 = at the limit of what is approved.")
    reasons: list[str] = Field(default_factory=list)
    review_required: bool = Field(
        default=False, description="Not approved yet: a person must decide (the reasons say why)."
    )
    review_deadline_s: int | None = Field(
        default=None,
        description="The worker's review deadline (CADENZA_REVIEW_DEADLINE) when the review was asked for.",
    )


class OrderRef(_KeyedCall):
    """An order by id: the input of confirming it."""

    order_id: str


class StepFence(_KeyedCall):
    """Input of every compensation: the idempotency key of the step it undoes. The service undoes exactly what the
    request with that key did — nothing of another execution of the same order id — and refuses that request from
    then on, so it also works when the step's reply was lost or its request has not even arrived yet.
    (`idempotency_key` is the compensation's own call key, like every mutating call's.)"""

    order_id: str
    step_key: str | None = Field(
        default=None, description="None only in inputs recorded before fencing: then the step's key is derived."
    )
    later_keys: list[str] = Field(
        default_factory=list,
        description="Keys of the later calls that changed the step's record (confirming, committing): fenced first, "
        "undoing nothing, so their stored answers are never replayed once the order was compensated.",
    )


class CompensationOutcome(_Model):
    undone: bool = Field(description="False when there was nothing to undo (the step never took effect).")
    detail: str


# ---- decisions people take: manual review, an operator's retry ------------------------------------------------------


class SignedDecision(_Model):
    """The input of an update only people may send, through Cadenza's own doors: it carries their proof
    (cadenza.decisions), which the worker checks before the workflow sees it. Optional in the model so that decisions
    recorded before proofs existed still replay; the worker refuses a new one without it."""

    proof: DecisionProof | None = None


class OperatorRetry(SignedDecision):
    """An operator's go-ahead to retry an order's failed compensations: the input of the `retry_compensation` update.
    `operator` is set by whoever relays it (the Order API: the API key's name; the CLI: the user running it)."""

    operator: str = Field(min_length=1, max_length=200)


class ReviewVerdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


# A reviewer's reason, as every door takes it (the Order API, the CLI, the `review` update itself).
REVIEW_REASON_MAX = 500
ReviewReason = Annotated[str, Field(min_length=1, max_length=REVIEW_REASON_MAX)]


class ReviewDecision(SignedDecision):
    """A reviewer's decision: the input of the `review` update. `reviewer` is set by whoever relays it (the Order API:
    the API key's name; the CLI: the user running it), never by the reviewer's own say-so."""

    decision: ReviewVerdict
    reason: ReviewReason | None = None
    reviewer: str = Field(min_length=1, max_length=200)


class ReviewOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    """No decision by the deadline: rejected automatically."""
    CANCELLED = "cancelled"
    """The order was cancelled while it waited."""


class ReviewRecord(BaseModel):
    """The review of one order: why it was asked for, until when, and (once decided) by whom, how and why."""

    requested_at: str = Field(description="Workflow time the review was asked for, ISO-8601 UTC.")
    deadline: str = Field(description="No decision by then rejects the order, ISO-8601 UTC.")
    reasons: list[str] = Field(default_factory=list, description="What the risk rules saw.")
    outcome: ReviewOutcome | None = None
    reviewer: str | None = None
    reason: str | None = None
    decided_at: str | None = None


# ---- what the workflow reports --------------------------------------------------------------------------------


class CompensationRecord(BaseModel):
    action: Compensation
    status: CompensationStatus = CompensationStatus.PENDING
    undone: bool | None = Field(default=None, description="Once done: whether there was anything to undo.")
    detail: str | None = None


class OrderProgress(BaseModel):
    """What the `status` query answers, and (once the order has closed) what the workflow returns."""

    order_id: str
    state: OrderState = OrderState.RUNNING
    current_step: Step | None = None
    completed_steps: list[Step] = Field(default_factory=list)
    failed_step: Step | None = None
    reason: str | None = None
    error_type: str | None = None
    compensations: list[CompensationRecord] = Field(default_factory=list)
    charge_id: str | None = None
    reservation_id: str | None = None
    risk: RiskAssessment | None = Field(
        default=None, description="Set once a large order's risk check approved it or referred it to a person."
    )
    review: ReviewRecord | None = Field(default=None, description="Set once the order was sent to manual review.")
    payment: PaymentDecision | None = Field(
        default=None,
        description="Set once the charge is decided (or the order ended before it): what a checkout shows.",
    )


class ProgressKind(StrEnum):
    STEP_STARTED = "step_started"
    STEP_DONE = "step_done"
    STEP_FAILED = "step_failed"
    COMPENSATION_STARTED = "compensation_started"
    COMPENSATION_DONE = "compensation_done"
    COMPENSATION_FAILED = "compensation_failed"
    STATE = "state"
    REVIEW_REQUESTED = "review_requested"
    REVIEW_DECIDED = "review_decided"


class ProgressEvent(BaseModel):
    """One change of an order's progress, numbered from 1: what the Order API's event stream sends."""

    seq: int
    kind: ProgressKind
    state: OrderState
    step: Step | None = None
    compensation: Compensation | None = None
    detail: str | None = None
    at: str = Field(description="Workflow time of the change, ISO-8601 UTC.")


class PaymentOutcome(StrEnum):
    CHARGED = "charged"
    DECLINED = "declined"
    """The payment provider refused the card."""
    REFUSED = "refused"
    """Cadenza refused to charge (the risk check or its reviewer, or the charge failed for another reason)."""
    PENDING_REVIEW = "pending_review"
    """Not decided yet: the order waits for a person to review it (the checkout can tell the customer so)."""
    NOT_CHARGED = "not_charged"
    """The order ended (failed or cancelled) before its charge was attempted."""


class PaymentDecision(BaseModel):
    """What a checkout tells the customer at once, while fulfilment carries on."""

    outcome: PaymentOutcome
    charge_id: str | None = None
    reason: str | None = None
    error_type: str | None = None


class PaymentAnswer(PaymentDecision):
    """The `payment_decision` update's answer: the decision, and the order's progress as the decision left it, so
    that a checkout's answer needs no query after it (a query waits behind the order's next workflow task, which
    can take longer than the decision did). An answer from a build before it carries no progress."""

    progress: OrderProgress | None = None

    @property
    def decision(self) -> PaymentDecision:
        return PaymentDecision(**self.model_dump(exclude={"progress"}))


class OrderResult(OrderProgress):
    """The workflow's result: `state` is `completed` or `compensated`."""


OrderProgress.model_rebuild()
PaymentAnswer.model_rebuild()
OrderResult.model_rebuild()
