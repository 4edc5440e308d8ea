"""Per-activity timeouts and retry policies: the one table every `execute_activity` call reads from.

Retries are server-managed (recorded in history, visible in the Web UI, surviving worker crashes) with exponential
backoff. Permanent failures (declined card, out of stock, invalid request) are raised as non-retryable errors by the
activities, so they end the retrying immediately.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

# HTTP calls give up after 8 s in all (activities/http.py); an attempt gets a little more, so the server notices a
# crashed worker within seconds.
ATTEMPT_TIMEOUT = timedelta(seconds=10)

# A forward step gives up after this many attempts, and the order is compensated: a customer should not wait an hour
# for a payment provider that is down. With the backoff below that is about two minutes of a failing service
# (0.5 + 1 + 2 + 4 + 8 + 10 × 9 s of waits, plus the attempts themselves; longer when a 429's Retry-After asks for
# it). The budget is counted in attempts, not in time since the step was scheduled, on purpose: an attempt is only
# made when a worker picks the step up, so an outage of the *workers* delays orders but never compensates them — a
# `schedule_to_close` deadline would count the time the step waited for a worker and undo healthy orders.
STEP_ATTEMPTS = 15

STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=STEP_ATTEMPTS,
)

# Compensations retry with backoff for up to COMPENSATION_DEADLINE; one still failing then (or failing permanently
# earlier) is recorded and the order waits in `needs_attention` for an operator (`cadenza order retry-compensation`),
# visible in the Web UI (OrderStatus="needs_attention") and in `cadenza order status`. Never dropped.
COMPENSATION_DEADLINE = timedelta(minutes=30)

# Reverse order is the safe default (undo the newest first, as a stack). Ours are independent of one another — each
# fences its own step's key — so they may also run all at once, which shortens compensation to its slowest.
PARALLEL_COMPENSATION = False

COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
)


# How long an order referred to manual review waits for a person before it is rejected automatically (and
# compensated). Set with CADENZA_REVIEW_DEADLINE in the environment of whoever places the order (the Order API, the
# CLI: kept in the execution's memo) or, failing that, of the worker (returned with the risk assessment). Either way
# it is fixed per order when the order starts waiting: changing the setting later moves no deadline already set.
DEFAULT_REVIEW_DEADLINE = timedelta(hours=24)
REVIEW_DEADLINE_ENV = "CADENZA_REVIEW_DEADLINE"
REVIEW_DEADLINE_MEMO = "review_deadline_s"


def review_deadline_from_env() -> timedelta | None:
    """CADENZA_REVIEW_DEADLINE as a duration (`90s`, `30m`, `24h`, `2d`, or plain seconds), None when unset. Never
    called from workflow code (a workflow must not read its environment): by starters and activities only."""
    # Imported here, not at the top: workflow code imports this module inside the sandbox, and never needs settings.
    from cadenza.settings import settings

    return settings().review_deadline


def _waits_between_attempts(policy: RetryPolicy) -> timedelta:
    assert policy.maximum_interval is not None and policy.maximum_attempts
    waits = (
        min(policy.initial_interval * policy.backoff_coefficient**attempt, policy.maximum_interval)
        for attempt in range(policy.maximum_attempts - 1)
    )
    return sum(waits, timedelta())


# How long a step keeps retrying a service that fails at once (503s): the backoff's waits, attempts not counted
# (105.5 s). A service down for longer compensates the orders at that step — what `cadenza chaos --outage` provokes.
STEP_RETRY_BUDGET = _waits_between_attempts(STEP_RETRY)

_STEP = {
    "start_to_close_timeout": ATTEMPT_TIMEOUT,
    "retry_policy": STEP_RETRY,
    # When the order is cancelled mid-step, let the in-flight attempt finish before compensating: most requests
    # arrive within it, and the compensation then undoes a known result instead of fencing one still on its way.
    # Correctness does not depend on it — a request that arrives after its compensation is refused by the fence.
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


# Local first (workflows/order.py, patch "local-first-attempt"): the first attempt of a forward step runs as a local
# activity inside the workflow task — no activity task for the server to schedule, dispatch, record and hand back, so
# an order whose calls all answer at once is one workflow task instead of six. Only an attempt that fails retryably or
# takes longer than LOCAL_ATTEMPT_TIMEOUT goes to the server, as a normal activity with the step's retry policy (the
# same idempotency key and summary), less the attempt already made.
#
# The timeout is short on purpose. While a local attempt runs the workflow task stays open, and a workflow task is
# what queries, cancellations and updates wait for: above a few hundred milliseconds a call is slow enough that the
# server's bookkeeping costs little beside it, and the step is better off where the Web UI shows it pending and a
# cancel reaches it. The price of an abandoned local attempt is one more request with the same key: an idempotent
# replay of the first answer, or (while the first is still in flight) a retryable conflict.
LOCAL_ATTEMPT_TIMEOUT = timedelta(milliseconds=300)
LOCAL_ATTEMPT: dict[str, Any] = {
    "start_to_close_timeout": LOCAL_ATTEMPT_TIMEOUT,
    "retry_policy": RetryPolicy(maximum_attempts=1),
    # A cancelled order lets its local attempt finish (workflows/order.py waits for it), as it does a server attempt.
    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}


@dataclass(frozen=True)
class OptionsTable:
    """A workflow's per-activity options: what `workflows/steps.py` reads for every call it makes. OrderWorkflow's is
    ORDER_OPTIONS; another saga brings its own table (its activities, which of them run local first)."""

    activities: Mapping[str, Mapping[str, Any]]
    """Keyword arguments of `workflow.start_activity` per activity name (always a `start_to_close_timeout`)."""
    local_first: frozenset[str] = frozenset()
    """The activities whose first attempt runs locally: forward steps, never compensations (rare, and worth every bit
    of the server's visibility when they run)."""
    local_attempt: Mapping[str, Any] = field(default_factory=lambda: LOCAL_ATTEMPT)
    """Keyword arguments of `workflow.start_local_activity` for a local first attempt."""

    def options(self, name: str) -> dict[str, Any]:
        """Keyword arguments for `workflow.start_activity` of activity `name`."""
        return dict(self.activities[name])

    def runs_local_first(self, name: str) -> bool:
        """Whether activity `name`'s first attempt runs locally."""
        return name in self.local_first

    def after_local_attempt(self, name: str) -> dict[str, Any]:
        """The server-managed activity that takes over a step from its failed local attempt: the step's options, its
        attempt budget less the local attempt, and its backoff one interval on (the workflow waited the first
        interval before scheduling it), so that the waits and the retry budget are those of the step's policy."""
        options = self.activities[name]
        policy: RetryPolicy = options["retry_policy"]
        assert policy.maximum_attempts > 1, f"{name}: a local first attempt needs a budget of more than one attempt"
        later = dataclasses.replace(
            policy,
            maximum_attempts=policy.maximum_attempts - 1,
            initial_interval=policy.initial_interval * policy.backoff_coefficient,
        )
        return {**options, "retry_policy": later}


ORDER_OPTIONS = OptionsTable(
    ACTIVITY_OPTIONS, local_first=frozenset(name for name, options in ACTIVITY_OPTIONS.items() if options is _STEP)
)
"""OrderWorkflow's table: its forward steps run local first."""


# A declared saga's steps (workflows/declared_saga.py) all call one generic activity; what an answer means is the
# step's declared `outcomes`, applied by the activity (a final answer is a non-retryable error), so the table only
# tells the uses apart: forward steps as an order's (local first, the same attempt budget), undo calls as its
# compensations, and steps after a successful pivot retried for as long as it takes — nothing before them is undone
# any more, so giving up would leave the saga half done; a final answer there waits for an operator instead.
COMPLETION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=60)
)
SAGA_OPTIONS = OptionsTable(
    {
        "call_operation": _STEP,
        "undo_operation": _COMPENSATION,
        "complete_operation": {**_STEP, "retry_policy": COMPLETION_RETRY},
    },
    local_first=frozenset({"call_operation"}),
)
"""DeclaredSagaWorkflow's table."""


def activity_options(name: str) -> dict[str, Any]:
    """Keyword arguments for `workflow.execute_activity` of OrderWorkflow's activity `name`."""
    return ORDER_OPTIONS.options(name)


def runs_local_first(name: str) -> bool:
    """Whether OrderWorkflow's activity `name` runs its first attempt locally (ORDER_OPTIONS)."""
    return ORDER_OPTIONS.runs_local_first(name)


def after_local_attempt(name: str) -> dict[str, Any]:
    """OrderWorkflow's activity `name` after its failed local attempt (ORDER_OPTIONS)."""
    return ORDER_OPTIONS.after_local_attempt(name)
