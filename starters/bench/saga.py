"""The declared order saga in the benchmark: examples/sagas/order.yaml run by DeclaredSagaWorkflow for the same
orders, with the same five calls and bodies, as OrderWorkflow makes them (issue 23: within 10 % of it)."""

from __future__ import annotations

from collections.abc import Callable

from temporalio.client import Client

from clients.sagas import load_definition
from clients.sagas.runs import run_id_for, run_result, start_run
from starters.bench.workload import BenchOrderFailed, Fulfil
from starters.saga_examples import EXAMPLES, order_saga_input
from workflows.models import Order
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SagaState


def order_saga() -> SagaDefinition:
    return load_definition(EXAMPLES / "order.yaml")


def saga_fulfil(client: Client, task_queue: str, definition: SagaDefinition, *, eager_start: bool) -> Fulfil:
    """Start the order's saga run and wait for its result, as `cadenza saga run --wait` would."""

    async def fulfil(order: Order) -> None:
        started = await start_run(
            client, definition, order_saga_input(order), task_queue=task_queue, eager_start=eager_start
        )
        result = await run_result(started.handle)
        if result.state != SagaState.COMPLETED:
            raise BenchOrderFailed(f"saga run {started.run_id} ended {result.state}: {result.reason}")

    return fulfil


def saga_workflow_id(definition: SagaDefinition) -> Callable[[Order], str]:
    """The workflow id of an order's saga run (the anatomy reads its history)."""
    return lambda order: run_id_for(definition, order_saga_input(order))
