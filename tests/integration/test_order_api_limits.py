"""An order at Temporal's per-execution update limit, on a dev server of this module's own whose limit
(`history.maxTotalUpdates`, 2,000 by default) is lowered so that a test reaches it in a few updates.

Before the fix, the Order API answered a review of such an order with a 500 ("limit on the total number of distinct
updates … reached"); it answers a 409 problem that says nothing was changed and what to do."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import ResetReapplyExcludeType
from temporalio.client import Client

from activities.records import ServiceRecords
from cadenza.processes import free_port
from clients.orders import wait_for_result
from starters.adversary.resets import reset_points, reset_to
from starters.faults import FaultAdmin
from tests.conftest import make_order
from tests.integration.conftest import Harness, stack_of_its_own
from tests.integration.test_order_api import Api, _app, _problem, _serve
from workers.worker import order_worker
from workflows.models import OrderState
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration

UPDATES_PER_EXECUTION = 4
TWELVE_THOUSAND = 300_000


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def limited(tmp_path_factory) -> AsyncIterator[tuple[Api, Harness]]:
    state = tmp_path_factory.mktemp("limits")
    async with stack_of_its_own(state / "stack", (f"history.maxTotalUpdates={UPDATES_PER_EXECUTION}",)) as stack:
        config = stack.config
        client = await Client.connect(config.temporal_address, data_converter=config.data_converter())
        async with (
            httpx.AsyncClient(timeout=60) as http,
            order_worker(client, task_queue=config.task_queue, endpoints=config.endpoints()),
        ):
            harness = Harness(
                stack,
                client,
                ServiceRecords(http, config.endpoints()),
                FaultAdmin(http, config.endpoints()),
                config.task_queue,
                http,
            )
            app = _app(harness, state / "api", lambda: config.temporal_address)
            port = free_port()
            server, task = await _serve(app, port)
            try:
                yield Api(f"http://127.0.0.1:{port}", app.state.api_keys, http, app), harness
            finally:
                server.should_exit = True
                await task


async def test_a_review_of_an_order_out_of_updates_is_a_409_that_says_what_to_do(limited: tuple[Api, Harness]):
    api, harness = limited
    headers = api.key(customer=f"c-{uuid.uuid4().hex[:6]}")
    customer = api.keys.authenticate(headers["Authorization"].removeprefix("Bearer ")).customer_id
    order = make_order(unit_price=TWELVE_THOUSAND).model_copy(update={"customer_id": customer})
    placed = await api.place(order, headers, Prefer="wait=payment")  # one update: the start's payment decision
    assert placed.json()["payment"]["outcome"] == "pending_review", placed.text
    workflow_id = placed.json()["links"]["web_ui"].rsplit("/workflows/", 1)[1]
    handle = harness.client.get_workflow_handle_for(OrderWorkflow.run, workflow_id)
    for _ in range(UPDATES_PER_EXECUTION - 1):  # what the flood did, from Temporal directly: the budget used up
        await handle.execute_update(OrderWorkflow.payment_decision)
    events = len((await handle.fetch_history()).events)

    review = await api.http.post(
        f"{api.url}/orders/{order.order_id}/review", json={"decision": "approve"}, headers=headers
    )

    problem = _problem(review, 409)
    assert problem["type"] == "urn:cadenza:problem:order-out-of-updates"
    assert "nothing was changed" in problem["detail"] and "docs/operations.md" in problem["detail"]
    assert len((await handle.fetch_history()).events) == events
    retry = await api.http.post(f"{api.url}/orders/{order.order_id}/retry-compensation", headers=headers)
    assert _problem(retry, 409)["type"] == "urn:cadenza:problem:order-out-of-updates"

    # The way out docs/operations.md gives: a reset starts a new run, and the budget is per run — as long as the
    # updates after the reset point are not applied to it again (`--reapply-exclude Update`).
    await _reset_to_its_first_task(harness.client, workflow_id)
    decided = await api.http.post(
        f"{api.url}/orders/{order.order_id}/review", json={"decision": "reject"}, headers=headers
    )
    assert decided.status_code == 200 and decided.json()["review"]["outcome"] == "rejected", decided.text


async def test_an_order_out_of_updates_can_still_be_cancelled(limited: tuple[Api, Harness]):
    api, harness = limited
    headers = api.key(customer=f"c-{uuid.uuid4().hex[:6]}")
    customer = api.keys.authenticate(headers["Authorization"].removeprefix("Bearer ")).customer_id
    order = make_order(unit_price=TWELVE_THOUSAND).model_copy(update={"customer_id": customer})
    placed = await api.place(order, headers, Prefer="wait=payment")
    handle = harness.client.get_workflow_handle_for(
        OrderWorkflow.run, placed.json()["links"]["web_ui"].rsplit("/workflows/", 1)[1]
    )
    for _ in range(UPDATES_PER_EXECUTION - 1):
        await handle.execute_update(OrderWorkflow.payment_decision)

    cancelled = await api.http.post(f"{api.url}/orders/{order.order_id}/cancel", headers=headers)

    assert cancelled.status_code == 202  # a cancellation is no update
    assert (await wait_for_result(handle)).state == OrderState.COMPENSATED


async def _reset_to_its_first_task(client: Client, workflow_id: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    await reset_to(
        client,
        workflow_id,
        history.run_id,
        reset_points(history.events)[0],
        "out of updates",
        reapply_exclude=[ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE],
    )
