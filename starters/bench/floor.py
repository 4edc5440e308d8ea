"""Temporal's floor: the barest Temporal workflow that makes an order's five calls, what Temporal itself costs here.

One workflow per order, started and waited for as `cadenza order place --wait` does, and one local activity that
makes the five calls exactly as the `direct` baseline does. Nothing else: no encryption, no search attributes, no
patch marker, no saga bookkeeping, no fences, no Worker Versioning, no tracing, no sandbox, its worker in the
benchmark's process (like `direct`'s calling code, so the two rows count the same processes).

It keeps none of Cadenza's promises, so it is not a way to run orders. It prices what the server and the SDK cost by
themselves for one workflow and one local activity: the part of an order's cost that no code of Cadenza's can
remove. `cadenza bench` reports `cadenza/floor` beside `cadenza/direct`, and the floor's own ratio to `direct` says
how far a goal stated against `direct` can be met on this stack at all (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.http import ServiceClients
from starters.bench.direct import order_calls
from starters.bench.workload import Fulfil
from workers.worker import capacity_options
from workflows.models import Order

CALLS = "bench_floor_calls"


@workflow.defn(name="BenchFloor", sandboxed=False)
class FloorWorkflow:
    @workflow.run
    async def run(self, order: Order) -> list[int]:
        # Retried by the SDK inside the workflow task like any local activity; the calls carry their keys, so a
        # retry charges nothing twice. The deadline bounds the five calls only, never reached on a happy path.
        return await workflow.execute_local_activity(CALLS, order, start_to_close_timeout=timedelta(seconds=60))


class _Calls:
    def __init__(self, clients: ServiceClients) -> None:
        self._clients = clients

    @activity.defn(name=CALLS)
    async def run(self, order: Order) -> list[int]:
        """The status of each call made, in order: what the bench's anatomy counts as the order's calls."""
        return [response.status_code for response in await order_calls(self._clients, order)]


@asynccontextmanager
async def floor_worker(client: Client, task_queue: str, clients: ServiceClients) -> AsyncIterator[Worker]:
    """The floor's worker, with the slots, pollers and cache of Cadenza's (workers.worker.capacity_options)."""
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[FloorWorkflow],
        activities=[_Calls(clients).run],
        workflow_runner=UnsandboxedWorkflowRunner(),
        **capacity_options(),
    )
    async with worker:
        yield worker


def floor_fulfil(client: Client, task_queue: str) -> Fulfil:
    """Start the order's floor workflow, eagerly (its worker runs in this process), and wait for it to end."""

    async def fulfil(order: Order) -> None:
        await client.execute_workflow(
            FloorWorkflow.run, order, id=order.workflow_id, task_queue=task_queue, request_eager_start=True
        )

    return fulfil
