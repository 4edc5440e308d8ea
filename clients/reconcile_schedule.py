"""The reconciler's Temporal Schedule: created by `cadenza up` and by `cadenza reconcile schedule` on any cluster.

Idempotent: creating it again updates its interval and action and keeps whether an operator paused it.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from cadenza.search_attributes import RECONCILE_UNREPAIRED, ensure_search_attributes
from workflows.reconcile import ReconcileWorkflow
from workflows.reconcile_models import ReconcileInput, short_duration

SCHEDULE_ID = "cadenza-reconcile"
DEFAULT_EVERY = timedelta(minutes=5)
# A run that hangs (services unreachable, no worker) ends here, so the schedule's next run is not skipped forever.
RUN_TIMEOUT = timedelta(minutes=30)


def reconcile_run_options(params: ReconcileInput) -> dict[str, Any]:
    """What every reconcile run starts with, scheduled or not: the Web UI's summary and the search attribute."""
    return {
        "static_summary": f"Reconcile orders of the last {short_duration(params.window)} with the services' records",
        "search_attributes": TypedSearchAttributes([SearchAttributePair(RECONCILE_UNREPAIRED, 0)]),
        "run_timeout": RUN_TIMEOUT,
    }


def reconcile_schedule(task_queue: str, every: timedelta = DEFAULT_EVERY) -> Schedule:
    params = ReconcileInput()
    options = reconcile_run_options(params)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReconcileWorkflow.run,
            params,
            # Temporal appends the scheduled time: cadenza-reconcile-2026-11-26T09:15:00Z.
            id=SCHEDULE_ID,
            task_queue=task_queue,
            static_summary=options["static_summary"],
            typed_search_attributes=options["search_attributes"],
            run_timeout=options["run_timeout"],
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # Two runs at once would plan the same repairs twice (harmless, the keys match) and halve nothing: skip.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="Created by Cadenza: checks recent orders against the services, repairs what is safe"),
    )


async def ensure_reconcile_schedule(
    client: Client, *, task_queue: str, every: timedelta = DEFAULT_EVERY
) -> Literal["created", "updated"]:
    """Create the schedule, or bring an existing one up to date (keeping it paused if someone paused it)."""
    # The runs carry ReconcileUnrepaired: a namespace that lacks it would refuse the schedule.
    await ensure_search_attributes(client)
    schedule = reconcile_schedule(task_queue, every)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        pass

    def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=current.description.schedule.state))

    await client.get_schedule_handle(SCHEDULE_ID).update(updated)
    return "updated"
