"""Per-activity timeouts and retry policies: the one table every `execute_activity` call reads from.

Retries are server-managed (recorded in history, visible in the Web UI, surviving worker crashes) with exponential
backoff. Permanent failures (declined card, out of stock, invalid request) are raised as non-retryable errors by the
activities, so they end the retrying immediately.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

# Forward steps give up after this long, and the order is compensated: a customer should not wait an hour for a
# payment provider that is down. Long enough to ride out a few minutes of 5xx/429.
STEP_DEADLINE = timedelta(minutes=2)

# HTTP calls time out after 5 s (activities/http.py); an attempt gets a little more, so the server notices a crashed
# worker within seconds.
ATTEMPT_TIMEOUT = timedelta(seconds=10)

STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
)

# Compensations retry with backoff for up to COMPENSATION_DEADLINE; one still failing then (or failing permanently
# earlier) is recorded and the order waits in `needs_attention` for an operator (`cadenza order retry-compensation`),
# visible in the Web UI (OrderStatus="needs_attention") and in `cadenza order status`. Never dropped.
COMPENSATION_DEADLINE = timedelta(minutes=30)

# Reverse order is the safe default (undo the newest first, as a stack). Ours are independent of one another — each
# finds its own records by order id — so they may also run all at once, which shortens compensation to its slowest.
PARALLEL_COMPENSATION = False

COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)

_STEP = {
    "start_to_close_timeout": ATTEMPT_TIMEOUT,
    "schedule_to_close_timeout": STEP_DEADLINE,
    "retry_policy": STEP_RETRY,
    # When the order is cancelled mid-step, wait for the in-flight attempt to finish before compensating: its
    # request may still commit, and a compensation that ran before it would miss it.
    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}
_COMPENSATION = {
    "start_to_close_timeout": ATTEMPT_TIMEOUT,
    "schedule_to_close_timeout": COMPENSATION_DEADLINE,
    "retry_policy": COMPENSATION_RETRY,
}

ACTIVITY_OPTIONS: dict[str, dict[str, Any]] = {
    "create_erp_order": _STEP,
    "assess_risk": _STEP,
    "charge_payment": _STEP,
    "reserve_inventory": _STEP,
    "confirm_erp_order": _STEP,
    "commit_inventory": _STEP,
    "cancel_erp_order": _COMPENSATION,
    "refund_payment": _COMPENSATION,
    "release_inventory": _COMPENSATION,
}


def activity_options(name: str) -> dict[str, Any]:
    """Keyword arguments for `workflow.execute_activity` of activity `name`."""
    return ACTIVITY_OPTIONS[name]
