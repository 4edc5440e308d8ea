"""Updates (a review decision, an operator's retry, the payment-decision wait of a new order) are what an order's
history grows by on request, and Temporal limits each execution: at most `history.maxTotalUpdates` distinct updates
(2,000 by default), `history.maxInFlightUpdates` at once (10), and a history beyond `limit.historyCount.error` events
(51,200) or `limit.historySize.error` bytes (50 MiB) gets the execution terminated — with no compensation run.

What the API does about it, per order:
- **Only the order's own customer reaches it** (api/ownership.py): nobody can spend another customer's budget.
- **Nothing but a decision is an update**: reading, streaming and a repeated `Prefer: wait=payment` use queries,
  which leave no trace in history.
- **One update in flight per order** (per API replica): a second one while the first runs is a 409 with
  `Retry-After`, answered before Temporal is asked, as the Idempotency-Key draft answers a retry in flight.
- **Room left for the order to finish**: once its history is within a tenth of Temporal's limits, updates are refused
  with a 409 (`order-history-full`) — what is left is the order's own, to run its remaining steps and compensations.
- **Temporal's own refusals are answers, never a 500**: out of updates → 409 (`order-out-of-updates`), too many in
  flight → 409 with `Retry-After`. Nothing was changed either way; the problem says what to do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from temporalio.client import WorkflowExecutionDescription
from temporalio.service import RPCError

from api.ownership import OrderAddress
from cadenza.problems import Problem

# Temporal's defaults (dynamic config `limit.historyCount.error`, `limit.historySize.error`): beyond them the server
# terminates the execution.
TEMPORAL_HISTORY_EVENTS_LIMIT = 51_200
TEMPORAL_HISTORY_BYTES_LIMIT = 50 * 1024 * 1024

ORDER_BUSY = "urn:cadenza:problem:order-busy"
ORDER_HISTORY_FULL = "urn:cadenza:problem:order-history-full"
ORDER_OUT_OF_UPDATES = "urn:cadenza:problem:order-out-of-updates"

_OUT_OF_UPDATES = "limit on the total number of distinct updates"
_TOO_MANY_IN_FLIGHT = ("in-flight updates has been reached",)
BUSY_RETRY_AFTER_S = 1
_RECOVERY = 'docs/operations.md, "Orders at Temporal\'s limits"'


@dataclass
class UpdateGuard:
    """The per-order checks above; one per API process (`app.state.update_guard`)."""

    max_in_flight: int = 1
    max_history_events: int = TEMPORAL_HISTORY_EVENTS_LIMIT * 9 // 10
    max_history_bytes: int = TEMPORAL_HISTORY_BYTES_LIMIT * 9 // 10
    _in_flight: dict[str, int] = field(default_factory=dict)

    @asynccontextmanager
    async def update(
        self, address: OrderAddress, description: WorkflowExecutionDescription | None
    ) -> AsyncIterator[None]:
        """Around one update of the order at `address` (`description`: as just read; None for a new order)."""
        if description is not None:
            self._refuse_if_history_full(address, description)
        key = address.workflow_id
        running = self._in_flight.get(key, 0)
        if running >= self.max_in_flight:
            raise _busy(address)
        self._in_flight[key] = running + 1
        try:
            yield
        except RPCError as err:
            if (refusal := temporal_refusal(err, address)) is not None:
                raise refusal from None
            raise
        finally:
            if (left := self._in_flight[key] - 1) > 0:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]

    def _refuse_if_history_full(self, address: OrderAddress, description: WorkflowExecutionDescription) -> None:
        events = description.history_length
        size = description.raw_description.workflow_execution_info.history_size_bytes
        if events >= self.max_history_events or size >= self.max_history_bytes:
            raise Problem(
                409,
                "Order history full",
                f"Order {address.order_id}'s history holds {events} events ({size} bytes), close to what Temporal "
                "keeps for one execution; nothing was changed. The room left is the order's own, to finish or "
                f"compensate: follow it with GET {address.path}, and see {_RECOVERY}.",
                type=ORDER_HISTORY_FULL,
                history_events=events,
                history_bytes=size,
            )


def temporal_refusal(err: RPCError, address: OrderAddress) -> Problem | None:
    """The problem answering Temporal's refusal of an update because of a per-execution limit; None for any other
    error."""
    if _OUT_OF_UPDATES in err.message:
        return Problem(
            409,
            "Order out of updates",
            f"Temporal takes no more updates for order {address.order_id} (every execution gets a fixed number); "
            "nothing was changed. The order carries on by itself — one awaiting review is decided by its review "
            f"deadline — and an operator can still act on it from Temporal: see {_RECOVERY}.",
            type=ORDER_OUT_OF_UPDATES,
        )
    if any(marker in err.message for marker in _TOO_MANY_IN_FLIGHT):
        return _busy(address)
    return None


def _busy(address: OrderAddress) -> Problem:
    return Problem(
        409,
        "Order busy",
        f"Another change to order {address.order_id} is in progress; nothing was changed. "
        f"Retry in {BUSY_RETRY_AFTER_S} s, or follow it with GET {address.path}.",
        type=ORDER_BUSY,
        headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
    )
