"""Every Temporal failure type Cadenza raises or compares: the `type=` of an `ApplicationError`, an order's
`error_type`.

One module so that a raiser and a reader cannot spell one type two ways. The values are recorded in histories (a
failure's type, an order's progress) and read back on replay and by the reconciler: never change one; add a new name
instead. Kernel, with no imports, so that workflow code can use it inside the sandbox.

A service's own error code becomes a type by `activities.errors.error_type` (`card_declined` → `CardDeclined`); the
ones Cadenza acts on are named here.
"""

from __future__ import annotations

# ---- raised by activities from HTTP answers (activities/errors.py) ----------------------------------------------
RATE_LIMITED = "RateLimited"
"""429: retried after the service's Retry-After."""
ROUTE_NOT_FOUND = "RouteNotFound"
"""A bare 404: the route is missing (a wrong CADENZA_<SERVICE>_URL), not the record; retried."""
SERVICE_TIMEOUT = "ServiceTimeout"
SERVICE_UNREACHABLE = "ServiceUnreachable"
UNSENDABLE_REQUEST = "UnsendableRequest"
"""A request that cannot be put on the wire (a header value that is not ASCII, a malformed URL): never sent, so
never retried."""
OUTCOME_UNKNOWN = "OutcomeUnknown"
"""A replay-unsafe call (a declared saga step whose API does not replay a key safely) may have been applied and is not
sent again: a timeout or a connection lost after sending (activities/operation_calls.py), or an attempt the server
timed out, its worker gone (workflows/at_most_once.py). Final: the saga compensates by lookup."""
UNKNOWN_ERROR = "UnknownError"
"""A non-2xx answer without an error code."""

# ---- services' error codes the workflow acts on (as error_type makes them) -----------------------------------------
CARD_DECLINED = "CardDeclined"
INSUFFICIENT_FUNDS = "InsufficientFunds"
EXPIRED_CARD = "ExpiredCard"
INCORRECT_CVC = "IncorrectCvc"
DECLINE_TYPES = frozenset({CARD_DECLINED, INSUFFICIENT_FUNDS, EXPIRED_CARD, INCORRECT_CVC})
"""The payment provider's refusals of the card itself: the order's payment decision is `declined`."""
OUT_OF_STOCK = "OutOfStock"
BUSINESS_REFUSALS = DECLINE_TYPES | {OUT_OF_STOCK}
"""A service's final "no" to the order itself, not a fault: raised as benign (activities/errors.py), so the SDK logs it
at DEBUG without a traceback and counts no activity failure, and the order is compensated as designed."""

# ---- raised by Cadenza's own code -----------------------------------------------------------------------------------
RISK_REJECTED = "RiskRejected"
"""The risk check refused a large order (activities/risk.py)."""
REVIEW_REJECTED = "ReviewRejected"
REVIEW_EXPIRED = "ReviewExpired"
"""An order refused in manual review, by a person or by its deadline (workflows/order.py)."""
ORDER_COMPENSATED = "OrderCompensated"
"""A compensated order's execution failure (non-retryable; its details carry the order's `OrderResult`): a declined,
out-of-stock or refused order ends Failed, not Completed (workflows/order.py, COMPENSATED_FAILS_PATCH)."""
SAGA_COMPENSATED = "SagaCompensated"
"""A compensated declared saga run's execution failure (non-retryable; its details carry the run's `SagaProgress`)
(workflows/declared_saga.py, COMPENSATED_FAILS_PATCH)."""
CANCELLED = "Cancelled"
"""An order cancelled on request (its `error_type`, never raised)."""
TIMEOUT = "Timeout"
"""A step that ran out of retries at its deadline without an application error to name (workflows/errors.py)."""
DECISION_REFUSED = "DecisionRefused"
"""An update whose decision proof is missing, wrong, stale or reused (cadenza/decisions.py)."""
PLAINTEXT_REFUSED = "PlaintextRefused"
"""A new request that arrived unencrypted where encryption is required (workers/intake.py)."""
REFUND_REFUSED = "RefundRefused"
"""The refusal `cadenza replay-record` simulates to leave an order in needs_attention."""
