"""A replay-unsafe step's request is sent once even when the worker sending it dies: SIGKILLed while the payment
service holds the charge (committed with its answer held, or waiting to commit), the attempt is timed out by the
server and never sent again; a new worker compensates it by lookup. The payment service ignores keys here (a second
request would charge again), so its own records count the requests that reached it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from activities.records import ServiceRecords
from cadenza.failure_types import OUTCOME_UNKNOWN
from clients.sagas.runs import start_run, wait_for_run
from starters.chaos.run import chaos_rig
from starters.replay import new_replayer
from starters.saga_chaos import replace_a_worker, saga_chaos_stack_config
from starters.saga_examples import order_with_unsafe_charge
from tests.integration.test_declared_order_saga import saga_input

pytestmark = pytest.mark.integration

# The committed charge's answer is held far longer than the attempt's 10 s timeout; the other charge commits 3 s
# after it arrived: after the worker died, before the server gives up on the attempt and the lookup runs.
HELD_MS = 60_000
SLOW_COMMIT_MS = 3000


async def test_a_worker_killed_mid_request_never_sends_a_replay_unsafe_charge_twice(tmp_path: Path):
    definition = order_with_unsafe_charge({"replay": "unsafe"})
    assert definition.step("charge").replay_unsafe
    config = replace(saga_chaos_stack_config(tmp_path / "stack"), task_queue=f"unsafe-crash-{uuid.uuid4().hex[:8]}")
    held, slow = saga_input(), saga_input()
    faults = {
        "payment": {
            "idempotency": "ignore_keys",  # a request sent again would charge again: the records count the sends
            "stall_ms": HELD_MS,
            "slow_commit_ms": SLOW_COMMIT_MS,
            "script": [
                {"kind": "stall", "times": 1, "match": f"{held['order_id']}/charge/"},
                {"kind": "slow_commit", "times": 1, "match": f"{slow['order_id']}/charge/"},
            ],
        }
    }
    async with chaos_rig(config, workers=1, faults=faults, log=lambda _: None) as rig:
        runs = [await start_run(rig.client, definition, run, task_queue=config.task_queue) for run in (held, slow)]
        async with asyncio.timeout(60):  # both charges in flight at the service
            while True:
                stats = await rig.faults.stats("payment")
                if stats["stalls_injected"] == 1 and stats["slow_commits_injected"] == 1:
                    break
                await asyncio.sleep(0.1)
        assert await replace_a_worker(rig.stack, "worker-2") is not None
        async with asyncio.timeout(90):
            views = [await wait_for_run(rig.client, started.run_id) for started in runs]
        records = ServiceRecords(rig.http, config.endpoints())
        charges = {run["order_id"]: (await records.for_order(run["order_id"])).charges for run in (held, slow)}
        assert {order: len(made) for order, made in charges.items()} == {held["order_id"]: 1, slow["order_id"]: 1}
        for run, started, view in zip((held, slow), runs, views, strict=True):
            [charge] = charges[run["order_id"]]  # received exactly once
            assert charge["refunded"], charge  # found by the lookup, undone
            assert view.progress is not None
            assert (view.state, view.progress.failed_step, view.progress.error_type) == (
                "compensated",
                "charge",
                OUTCOME_UNKNOWN,
            ), view.progress
            history = await rig.client.get_workflow_handle(started.run_id).fetch_history()
            # One activity for the charge, one attempt of it, timed out by the server: nothing sent it again.
            timed_out = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT]
            assert len(timed_out) == 1, started.run_id
            attempts = [
                event.activity_task_started_event_attributes.attempt
                for event in history.events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
            ]
            assert max(attempts) == 1, attempts
            replayed = await new_replayer(converter=config.data_converter()).replay_workflow(
                history, raise_on_replay_failure=False
            )
            assert replayed.replay_failure is None, replayed.replay_failure
        assert (await rig.faults.stats("payment"))["stalls_injected"] == 1
