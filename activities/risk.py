"""The risk check of large orders, before their card is charged: a stand-in for a call to a fraud service.

The rules are local and deterministic on purpose (the same order always gets the same answer, in a test as in a
retry); a real integration would replace `assess` with an HTTP call mapped through `activities/errors.py`.

Rules, applied to orders the workflow sends here (those totalling `RISK_CHECK_THRESHOLD` or more):
- a total above `REVIEW_LIMIT` (10,000.00) goes to a person: the order waits in `awaiting_review` until someone
  approves or rejects it (or its deadline passes). Workflow code that cannot wait (`review_allowed` false: an
  execution started before manual review existed) gets the refusal it always got instead;
- `BULK_QUANTITY` or more units of one SKU are refused, review or not: the pattern of resellers and of stolen-card
  cash-out.
Amounts are compared in minor units whatever the currency, like every limit in Cadenza.
The score says how close an approved order came to the amount limit (0–100).
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from cadenza.failure_types import RISK_REJECTED
from workflows.models import RiskAssessment, RiskAssessmentRequest, format_money

REVIEW_LIMIT = 1_000_000
BULK_QUANTITY = 50
REJECTED = RISK_REJECTED


def assess(request: RiskAssessmentRequest) -> RiskAssessment:
    """Apply the rules: an approval, a referral to review (`review_required`), or a refusal (`approved=False`,
    `review_required=False`), each with its reasons."""
    for_review: list[str] = []
    refusals: list[str] = []
    if request.total_amount > REVIEW_LIMIT:
        limit = format_money(REVIEW_LIMIT, request.currency)
        reason = f"total {format_money(request.total_amount, request.currency)} is above the {limit} limit"
        (for_review if request.review_allowed else refusals).append(reason)
    bulk = [line.sku for line in request.lines if line.quantity >= BULK_QUANTITY]
    if bulk:
        refusals.append(f"{BULK_QUANTITY} or more units of {', '.join(bulk)}")
    score = min(100, request.total_amount * 100 // REVIEW_LIMIT)
    if refusals:
        return RiskAssessment(approved=False, score=score, reasons=refusals + for_review)
    return RiskAssessment(approved=not for_review, score=score, reasons=for_review, review_required=bool(for_review))


def rejection(request: RiskAssessmentRequest, assessment: RiskAssessment) -> ApplicationError:
    """Non-retryable: asking again gets the same answer. The workflow compensates the order."""
    assert not assessment.review_required
    return ApplicationError(
        f"risk check refused order {request.order_id}: {'; '.join(assessment.reasons)}",
        {"score": assessment.score, "reasons": assessment.reasons},
        type=REJECTED,
        non_retryable=True,
        category=ApplicationErrorCategory.BENIGN,  # an outcome, not a fault: logged at DEBUG, no traceback
    )
