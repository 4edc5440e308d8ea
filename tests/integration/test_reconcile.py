"""The reconciler against the real stack: its schedule, a repair of a charge made behind Cadenza's back (proven by the
payment service's own records), an inconsistency it must raise rather than repair, and a reset order judged by its
current run. What it does once executions are deleted: test_retention.py."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, ScheduleIntervalSpec, ScheduleOverlapPolicy
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.audit import run_audit
from activities.reconcile import ReconcileActivities
from cadenza.processes import free_port
from cadenza.search_attributes import RECONCILE_UNREPAIRED
from clients.orders import place_order, wait_for_result
from clients.reconcile_schedule import SCHEDULE_ID
from starters.reconcile.command import ReconcileFailed, run_once
from starters.up import schedule_reconciler
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.test_audit import _reset_to_first_task
from tests.integration.test_cli import _cadenza_async
from workers.worker import order_worker, worker_options
from workflows.models import Order
from workflows.order import OrderWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.reconcile_models import ReconcileInput, Repair, RepairAction, RepairStatus

pytestmark = pytest.mark.integration


def _prefix() -> str:
    return f"rec-{uuid.uuid4().hex[:8]}-"


def _now(prefix: str) -> ReconcileInput:
    # No grace period: the test's orders closed a moment ago and are meant to be judged right away.
    return ReconcileInput(prefix=prefix, grace=timedelta(0))


async def _closed(harness: Harness, order: Order, *, task_queue: str | None = None) -> None:
    """Placed, finished, and visible as finished (visibility trails the execution by a few milliseconds)."""
    placed = await place_order(harness.client, order, task_queue=task_queue or harness.task_queue)
    await wait_for_result(placed.handle)
    await _until_listed(harness, f'WorkflowId="{order.workflow_id}" AND ExecutionStatus!="Running"')


async def _until_listed(harness: Harness, query: str, *, runs: int = 1) -> None:
    for _ in range(200):
        if (await harness.client.count_workflows(query)).count >= runs:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"visibility never listed {runs} run(s) for {query}")


async def _behind_our_back(harness: Harness, method: str, service: str, path: str, **json: object) -> dict:
    """A call to a service that Cadenza did not make (an operator, another system)."""
    endpoint = harness.config.endpoints()[service]
    response = await harness.http.request(
        method, endpoint.base_url + path, json=json or None, headers=endpoint.auth_headers
    )
    response.raise_for_status()
    return response.json()


async def _refunds(harness: Harness, charge_id: str) -> list[dict]:
    return (await _behind_our_back(harness, "GET", "payment", f"/refunds?charge_id={charge_id}"))["refunds"]


async def _details(client: Client, workflow_id: str) -> str:
    """What the Web UI shows as the run's current details."""
    metadata = await client.get_workflow_handle(workflow_id).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return metadata.current_details


async def _unrepaired_attribute(client: Client, workflow_id: str) -> int | None:
    async for execution in client.list_workflows(f'WorkflowId="{workflow_id}"'):
        return execution.typed_search_attributes.get(RECONCILE_UNREPAIRED)
    return None


@asynccontextmanager
async def reconcile_worker_with_metrics(harness: Harness) -> AsyncIterator[tuple[Client, str, str]]:
    """A reconcile worker of its own that serves Prometheus metrics, to read the gauges as an operator's dashboard
    would: (its client, its task queue, the metrics URL)."""
    port = free_port()
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")))
    client = await Client.connect(
        harness.config.temporal_address, data_converter=harness.config.data_converter(), runtime=runtime
    )
    task_queue = f"reconcile-{uuid.uuid4().hex}"
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[ReconcileWorkflow],
        activities=ReconcileActivities(harness.http, harness.config.endpoints()).all(),
        **worker_options(),
    ):
        yield client, task_queue, f"http://127.0.0.1:{port}/metrics"


async def test_cadenza_up_schedules_the_reconciler_and_scheduling_again_updates_it(harness):
    client = harness.client
    handle = client.get_schedule_handle(SCHEDULE_ID)
    try:
        await schedule_reconciler(harness.config)  # what `cadenza up` calls once its stack is up
        schedule = (await handle.describe()).schedule
        assert schedule.action.workflow == "ReconcileWorkflow"
        assert schedule.action.task_queue == harness.task_queue
        assert schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=5))]
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        # Each run starts indexed, so it can report what it left unrepaired as ReconcileUnrepaired.
        assert schedule.action.typed_search_attributes.get(RECONCILE_UNREPAIRED) == 0

        # An operator pauses it; `cadenza reconcile schedule` (twice) changes the interval, never errs, keeps the pause.
        await handle.pause(note="maintenance")
        for _ in range(2):
            done = await _cadenza_async(["reconcile", "schedule", "--every", "10m"], harness.config.client_env())
            assert done.returncode == 0, done.stderr
            assert f"Schedule {SCHEDULE_ID} updated: a reconcile run every 10m" in done.stdout
        schedule = (await handle.describe()).schedule
        assert schedule.spec.intervals == [ScheduleIntervalSpec(every=timedelta(minutes=10))]
        assert schedule.state.paused and schedule.state.note == "maintenance"

        refused = await _cadenza_async(["reconcile", "schedule", "--every", "0m"], harness.config.client_env())
        assert refused.returncode == 2 and "--every '0m'" in refused.stderr
    finally:
        # Other tests share this stack: a run every few minutes must not judge their orders behind their back.
        await handle.delete()


async def test_charges_made_behind_cadenzas_back_are_refunded_exactly_once(harness):
    prefix = _prefix()
    declined = make_order(order_id=f"{prefix}compensated", token="tok_chargeDeclined")
    await _closed(harness, declined)
    # A charge that lands after the order was compensated, and one for an order id Temporal has no execution of.
    late = await _behind_our_back(
        harness,
        "POST",
        "payment",
        "/charges",
        order_id=declined.order_id,
        amount=2100,
        currency="EUR",
        payment_token="tok_visa",
    )
    orphan = await _behind_our_back(
        harness,
        "POST",
        "payment",
        "/charges",
        order_id=f"{prefix}never-placed",
        amount=500,
        currency="EUR",
        payment_token="tok_visa",
    )

    workflow_id, report = await run_once(harness.client, _now(prefix), task_queue=harness.task_queue)

    assert sorted((o.repair.action, o.repair.target, o.status) for o in report.repairs) == sorted(
        [
            (RepairAction.REFUND_CHARGE, late["id"], RepairStatus.REPAIRED),
            (RepairAction.REFUND_CHARGE, orphan["id"], RepairStatus.REPAIRED),
        ]
    )
    assert report.unrepaired == [] and report.clean
    reasons = {o.repair.target: o.repair.reason for o in report.repairs}
    assert reasons[orphan["id"]] == "charge of an order Temporal has no execution of"
    assert reasons[late["id"]] == "live charge; order ended compensated"
    for charge in (late, orphan):  # the payment service's own records: refunded, by one refund
        assert (await _behind_our_back(harness, "GET", "payment", f"/charges/{charge['id']}"))["refunded"]
        assert [r["amount"] for r in await _refunds(harness, charge["id"])] == [charge["amount"]]
    assert "2 repaired, 0 left unrepaired" in await _details(harness.client, workflow_id)
    assert await _unrepaired_attribute(harness.client, workflow_id) == 0

    _, again = await run_once(harness.client, _now(prefix), task_queue=harness.task_queue)
    assert again.repairs == [] and again.clean
    for charge in (late, orphan):
        assert len(await _refunds(harness, charge["id"])) == 1


async def test_a_completed_order_without_its_charge_is_raised_not_repaired(harness):
    prefix = _prefix()
    order = make_order(order_id=f"{prefix}refunded-behind-our-back")
    await _closed(harness, order)
    [charge] = (await harness.records.for_order(order.order_id)).charges
    await _behind_our_back(harness, "POST", "payment", f"/charges/{charge['id']}/refunds")
    before = await harness.records.for_order(order.order_id)

    async with reconcile_worker_with_metrics(harness) as (client, task_queue, metrics_url):
        workflow_id, report = await run_once(client, _now(prefix), task_queue=task_queue)
        metrics = (await asyncio.to_thread(httpx.get, metrics_url)).text
        details = await _details(client, workflow_id)  # a query: answered by a worker

    assert report.repairs == [] and not report.clean
    assert [(f.order_id, f.message) for f in report.unrepaired] == [
        (order.order_id, "0 live charges, expected exactly 1")
    ]
    assert await harness.records.for_order(order.order_id) == before  # nothing touched
    assert re.search(r"cadenza_inconsistencies\{[^}]*\} 1\b", metrics), metrics
    assert f"order {order.order_id}: 0 live charges, expected exactly 1" in details
    assert await _unrepaired_attribute(client, workflow_id) == 1

    # The command an operator runs: it names the order and exits 1.
    done = await _cadenza_async(["reconcile", "run", "--prefix", prefix, "--grace", "0s"], harness.config.client_env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert order.order_id in done.stdout and "0 live charges, expected exactly 1" in done.stdout
    assert "0 repaired, 1 left unrepaired" in done.stdout


async def test_a_repair_acts_once_and_never_on_an_order_that_no_longer_looks_as_judged(harness):
    prefix = _prefix()
    order = make_order(order_id=f"{prefix}completed")
    await _closed(harness, order)
    [charge] = (await harness.records.for_order(order.order_id)).charges
    activities = ReconcileActivities(harness.http, harness.config.endpoints())
    env = ActivityEnvironment(client=harness.client)

    # Planned while the order looked compensated, made once it is completed (e.g. reset and run again): skipped.
    stale = Repair(
        action=RepairAction.REFUND_CHARGE,
        order_id=order.order_id,
        target=charge["id"],
        reason="live charge; order ended compensated",
        judged_as="compensated",
    )
    skipped = await env.run(activities.repair, stale)
    assert skipped.status == RepairStatus.SKIPPED and "is completed now" in skipped.detail
    assert await _refunds(harness, charge["id"]) == []

    # The same repair twice (two runs, or an attempt retried after a lost reply): one refund.
    current = stale.model_copy(update={"judged_as": "completed"})
    assert [(await env.run(activities.repair, current)).status for _ in range(2)] == [RepairStatus.REPAIRED] * 2
    assert len(await _refunds(harness, charge["id"])) == 1
    # Refunded meanwhile by someone else, under another key: nothing left to do, and said so.
    other = make_order(order_id=f"{prefix}refunded-meanwhile")
    await _closed(harness, other)
    [other_charge] = (await harness.records.for_order(other.order_id)).charges
    await _behind_our_back(harness, "POST", "payment", f"/charges/{other_charge['id']}/refunds")
    late = await env.run(
        activities.repair, current.model_copy(update={"order_id": other.order_id, "target": other_charge["id"]})
    )
    assert late.status == RepairStatus.ALREADY_DONE and "already fully refunded" in late.detail
    assert len(await _refunds(harness, other_charge["id"])) == 1


async def test_a_run_that_cannot_read_the_services_fails_with_what_to_check(harness):
    endpoints = {**harness.config.endpoints()}
    endpoints["payment"] = dataclasses.replace(endpoints["payment"], base_url=f"http://127.0.0.1:{free_port()}")
    task_queue = f"reconcile-{uuid.uuid4().hex}"
    async with Worker(
        harness.client,
        task_queue=task_queue,
        workflows=[ReconcileWorkflow],
        activities=ReconcileActivities(harness.http, endpoints).all(),
        **worker_options(),
    ):
        with pytest.raises(ReconcileFailed, match="Check that the ERP, payment and inventory services answer"):
            await run_once(harness.client, _now(_prefix()), task_queue=task_queue)


async def test_a_reset_order_is_judged_by_its_current_run_as_the_audit_judges_it(harness):
    # The order runs on a queue of its own, so that the run a reset starts stays open until a worker comes back.
    task_queue, endpoints = f"reconcile-reset-{uuid.uuid4().hex}", harness.config.endpoints()
    order = make_order(order_id=f"{_prefix()}reset")
    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints):
        await _closed(harness, order, task_queue=task_queue)
    await _reset_to_first_task(harness, harness.client.get_workflow_handle(order.workflow_id))
    await _until_listed(harness, f'WorkflowId="{order.workflow_id}" AND ExecutionStatus="Running"')

    # The completed run was replaced: the order is open again, and its own workflow owns its records.
    _, report = await run_once(harness.client, _now(order.order_id), task_queue=harness.task_queue)
    assert (report.open_orders, report.orders, report.repairs, report.unrepaired) == (1, 0, [], [])

    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints):
        await wait_for_result(harness.client.get_workflow_handle_for(OrderWorkflow.run, order.workflow_id))
    await _until_listed(harness, f'WorkflowId="{order.workflow_id}" AND ExecutionStatus!="Running"', runs=2)
    _, report = await run_once(harness.client, _now(order.order_id), task_queue=harness.task_queue)
    assert (report.open_orders, report.orders, report.repairs, report.unrepaired) == (0, 1, [], [])
    audit = await run_audit(harness.client, harness.records, prefix=order.order_id)
    assert (dict(audit.outcomes), audit.problems) == ({"completed": 1}, [])
