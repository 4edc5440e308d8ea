"""Which orders are compensating right now, seen the way an operator would: a visibility query on `OrderStatus`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client
from temporalio.service import RPCError

from workflows.models import OrderState
from workflows.search_attributes import ORDER_STATUS

# needs_attention counts too: its compensations are pending, waiting for an operator.
COMPENSATING_QUERY = (
    f'WorkflowType="OrderWorkflow" AND ExecutionStatus="Running" AND ({ORDER_STATUS.name}="{OrderState.COMPENSATING}"'
    f' OR {ORDER_STATUS.name}="{OrderState.NEEDS_ATTENTION}")'
)


class CompensationWatch:
    """Polls visibility every `interval_s`; `current` is the last answer, `on_new` hears of each order once."""

    def __init__(self, client: Client, on_new: Callable[[str], None], interval_s: float = 1.0) -> None:
        self._client, self._on_new, self._interval_s = client, on_new, interval_s
        self.current: frozenset[str] = frozenset()
        self.seen: set[str] = set()

    async def run(self) -> None:
        while True:
            try:
                executions = self._client.list_workflows(COMPENSATING_QUERY)
                self.current = frozenset([execution.id async for execution in executions])
            except RPCError:
                pass  # the dev server is restarting: keep the last answer
            for workflow_id in sorted(self.current - self.seen):
                self.seen.add(workflow_id)
                self._on_new(workflow_id)
            await asyncio.sleep(self._interval_s)

    def describe(self) -> str:
        """`3 orders compensating (order-a, order-b, …)`, for event lines."""
        if not self.current:
            return "no order compensating"
        sample = sorted(self.current)[:2]
        more = ", …" if len(self.current) > len(sample) else ""
        orders = "order" if len(self.current) == 1 else "orders"
        return f"{len(self.current)} {orders} compensating ({', '.join(sample)}{more})"
