"""A deploy that never breaks an order: Worker Versioning on the bundled dev server, end to end.

Build v1 takes orders; three of them are held in flight at `charge_payment` (the payment service answers 503 for as
long as the test says). Build v2 — whose OrderWorkflow starts with a timer, a change that cannot replay v1's
histories (checked below) — starts beside it and is promoted with the code behind `cadenza deploy promote`. The held
orders then finish on v1 without a single failed workflow task, new orders run on v2, v1 drains and its worker stops.
The services' own records show every order charged exactly once. The timeline is printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkerDeploymentVersion
from temporalio.workflow import NondeterminismError

from activities.consistency import inconsistencies
from cadenza.deployment import DeploymentState, describe_deployment
from clients.orders import place_order
from starters.deploy import PromotionRefused, describe_promotion, promote
from starters.replay import new_replayer
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.rollout_variant import NEXT_BUILD_WORKFLOWS
from tests.unit.production_worker import result_of
from workers.worker import WORKFLOWS, Versioning, order_worker
from workflows.models import Order, OrderState

pytestmark = pytest.mark.integration

HELD = 3
NEW = 2
# The test stack's drainage settings (cadenza.stack.VERSIONING_DYNAMIC_CONFIG) make DRAINED a matter of seconds.
DRAIN_TIMEOUT_SECONDS = 60


@dataclass
class Timeline:
    """Who ran what, when: seconds since the test started."""

    started: float = field(default_factory=time.monotonic)
    entries: list[tuple[float, str]] = field(default_factory=list)

    def note(self, what: str) -> None:
        self.entries.append((time.monotonic() - self.started, what))

    def render(self) -> str:
        return "\n".join(f"  t={at:6.2f}s  {what}" for at, what in self.entries)


async def _build_ids_and_failures(handle: WorkflowHandle) -> tuple[list[str], int]:
    """The build id that completed each workflow task (from its WorkflowTaskCompleted event), and the failed tasks."""
    builds, failed = [], 0
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            builds.append(event.workflow_task_completed_event_attributes.deployment_version.build_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failed += 1
    return builds, failed


async def _state(client: Client, name: str) -> DeploymentState:
    state = await describe_deployment(client, name)
    assert state is not None, f"deployment {name} unknown to the server"
    return state


async def _wait_for_drainage(client: Client, name: str, build_id: str, wanted: str, timeout: float) -> float:
    started = time.monotonic()
    while True:
        version = (await _state(client, name)).version(build_id)
        if version is not None and version.drainage == wanted:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"{build_id} still {version and version.drainage}, not {wanted}"
        await asyncio.sleep(0.5)


async def _wait_for_poller(client: Client, name: str, build_id: str) -> None:
    # The server lists a version's poller a moment after it registered the version.
    async with asyncio.timeout(15):
        while not ((version := (await _state(client, name)).version(build_id)) and version.polled):
            await asyncio.sleep(0.2)


async def _wait_for_injected_errors(harness: Harness, at_least: int, baseline: int) -> None:
    async with asyncio.timeout(30):
        while (await harness.faults.stats("payment"))["errors_injected"] - baseline < at_least:
            await asyncio.sleep(0.1)


async def _place(client: Client, order: Order, task_queue: str) -> WorkflowHandle:
    # As `cadenza order place` and the Order API do: they run no worker, so the server routes the first workflow task.
    # (Eager start would hand it to a local worker of either build, whichever the SDK picks.)
    return (await place_order(client, order, task_queue=task_queue, eager_start=False)).handle


async def _finish(harness: Harness, handle: WorkflowHandle, order: Order, timeline: Timeline) -> list[str]:
    result = await result_of(handle)  # fails at once on a failed workflow task instead of waiting for a retry to pass
    builds, failed = await _build_ids_and_failures(handle)
    timeline.note(
        f"{order.order_id} completed ({result.state.value}), workflow tasks by {'/'.join(sorted(set(builds)))}"
    )
    assert result.state == OrderState.COMPLETED
    assert failed == 0, f"{order.order_id}: {failed} failed workflow task(s) — a non-determinism error"
    records = await harness.records.for_order(order.order_id)
    assert inconsistencies(OrderState.COMPLETED, order.total_amount, records) == []
    assert len(records.succeeded_charges) == 1, f"{order.order_id} charged {len(records.succeeded_charges)} times"
    return builds


async def test_an_incompatible_build_rolls_out_while_orders_in_flight_finish_on_theirs(harness, no_faults):
    client, timeline = harness.client, Timeline()
    name, task_queue = f"it-rollout-{uuid.uuid4().hex[:8]}", f"rollout-{uuid.uuid4().hex}"
    v1, v2 = (Versioning(WorkerDeploymentVersion(name, build), auto_promote=True) for build in ("v1", "v2"))
    endpoints = harness.config.endpoints()

    held = [make_order() for _ in range(HELD)]
    for order in held:
        await harness.faults.script("payment", "error", times=1000, match=f"{order.workflow_id}/charge_payment")
    errors_before = (await harness.faults.stats("payment"))["errors_injected"]

    async with AsyncExitStack() as v2_worker, AsyncExitStack() as v1_worker:
        await v1_worker.enter_async_context(
            order_worker(client, task_queue=task_queue, endpoints=endpoints, versioning=v1)
        )
        assert (await _state(client, name)).current_build_id == "v1", "a fresh deployment's first build is made current"
        timeline.note("worker v1 started; auto-promoted: the deployment had no current version")

        held_handles = [await _place(client, order, task_queue) for order in held]
        await _wait_for_injected_errors(harness, at_least=HELD, baseline=errors_before)
        timeline.note(f"{HELD} orders placed on v1, held at charge_payment (payment answers 503)")

        await v2_worker.enter_async_context(
            order_worker(
                client, task_queue=task_queue, endpoints=endpoints, versioning=v2, workflows=NEXT_BUILD_WORKFLOWS
            )
        )
        assert (await _state(client, name)).current_build_id == "v1", "auto-promotion leaves a working current alone"
        await _wait_for_poller(client, name, "v2")
        timeline.note(
            "worker v2 started beside v1 (OrderWorkflow with a timer before the first step); v1 stays current"
        )

        with pytest.raises(PromotionRefused, match="No worker of build 'v3'"):
            await promote(client, name, "v3")
        promotion = await promote(client, name, "v2")
        assert (promotion.previous_build_id, promotion.in_flight_on_previous) == ("v1", HELD)
        timeline.note("promoted v2: " + " ".join(describe_promotion(promotion)))

        new = [make_order() for _ in range(NEW)]
        new_handles = [await _place(client, order, task_queue) for order in new]
        timeline.note(f"{NEW} new orders placed")
        for handle, order in zip(new_handles, new, strict=True):
            assert set(await _finish(harness, handle, order, timeline)) == {"v2"}

        await _wait_for_drainage(client, name, "v1", "draining", timeout=10)
        assert [(await handle.describe()).status.name for handle in held_handles] == ["RUNNING"] * HELD
        timeline.note("v1 is draining: its held orders are still running")

        for order in held:
            await harness.faults.unscript("payment", f"{order.workflow_id}/charge_payment")
        timeline.note("payment released")
        for handle, order in zip(held_handles, held, strict=True):
            assert set(await _finish(harness, handle, order, timeline)) == {"v1"}

        drained_after = await _wait_for_drainage(client, name, "v1", "drained", timeout=DRAIN_TIMEOUT_SECONDS)
        timeline.note(f"v1 drained {drained_after:.1f}s after its last order completed")
        await v1_worker.aclose()
        timeline.note("worker v1 stopped")

        last = make_order()
        last_handle = await _place(client, last, task_queue)
        assert set(await _finish(harness, last_handle, last, timeline)) == {"v2"}

    print(f"\nVersioned rollout timeline (deployment {name}):\n{timeline.render()}")

    # The premise: v2 really is incompatible. Replayed against v2's code, a v1 history fails; against v1's, it passes.
    v1_history = await held_handles[0].fetch_history()
    with pytest.raises(NondeterminismError):
        await new_replayer(workflows=NEXT_BUILD_WORKFLOWS).replay_workflow(v1_history)
    await new_replayer(workflows=WORKFLOWS).replay_workflow(v1_history)
