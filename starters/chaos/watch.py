"""Which orders are in a given state right now, seen the way an operator or a reviewer would: a visibility query on
`OrderStatus`, polled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client
from temporalio.service import RPCError

from cadenza.search_attributes import ORDER_STATUS
from workflows.models import OrderState


def _running_in(*states: OrderState) -> str:
    either = " OR ".join(f'{ORDER_STATUS.name}="{state}"' for state in states)
    return f'WorkflowType="OrderWorkflow" AND ExecutionStatus="Running" AND ({either})'


# needs_attention counts too: its compensations are pending, waiting for an operator.
COMPENSATING_QUERY = _running_in(OrderState.COMPENSATING, OrderState.NEEDS_ATTENTION)
AWAITING_REVIEW_QUERY = _running_in(OrderState.AWAITING_REVIEW)


class VisibilityWatch:
    """Polls `query` every `interval_s`; `current` holds the workflow ids of the last answer, `seen` every one ever
    listed, and `on_new` hears of each run once — a reset run is a new one, in that state again."""

    def __init__(
        self, client: Client, query: str, on_new: Callable[[str], None], *, state: str, interval_s: float = 1.0
    ) -> None:
        self._client, self._query, self._on_new, self._interval_s = client, query, on_new, interval_s
        self._state = state
        self.current: frozenset[str] = frozenset()
        self.seen: set[str] = set()
        self._seen_runs: set[str] = set()

    async def run(self) -> None:
        while True:
            try:
                runs = {execution.run_id: execution.id async for execution in self._client.list_workflows(self._query)}
            except RPCError:
                pass  # the dev server is restarting: keep the last answer
            else:
                self.current = frozenset(runs.values())
                for run_id, workflow_id in sorted(runs.items(), key=lambda run: run[1]):
                    if run_id not in self._seen_runs:
                        self._seen_runs.add(run_id)
                        self.seen.add(workflow_id)
                        self._on_new(workflow_id)
            await asyncio.sleep(self._interval_s)

    def describe(self) -> str:
        """`3 orders compensating (order-a, order-b, …)`, for event lines."""
        if not self.current:
            return f"no order {self._state}"
        sample = sorted(self.current)[:2]
        more = ", …" if len(self.current) > len(sample) else ""
        orders = "order" if len(self.current) == 1 else "orders"
        return f"{len(self.current)} {orders} {self._state} ({', '.join(sample)}{more})"
