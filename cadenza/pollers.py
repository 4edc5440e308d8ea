"""Who polls a task queue now: the one place that asks Temporal (`DescribeTaskQueue`) and decides which of the
pollers it lists are workers that still run.

The server lists a poller for minutes after its worker stopped (until its poller history expires), so a poller counts
only when it was seen within `POLLER_FRESH`. Readiness, `cadenza doctor`, the commands that start a worker when none
runs, and the doors' status reads (which answer "no worker" instead of waiting out a query nobody takes) all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse
from temporalio.client import Client

POLLER_FRESH = timedelta(seconds=90)
"""A live poller is seen again within a long poll (about 60 s on the server) plus margin."""

WORKFLOW = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


async def describe_queue(
    client: Client, task_queue: str, kind: TaskQueueType.ValueType = WORKFLOW, *, timeout: timedelta | None = None
) -> DescribeTaskQueueResponse:
    """The server's description of one of `task_queue`'s kinds (workflow or activity tasks), pollers included."""
    return await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
        ),
        timeout=timeout,
    )


def fresh(pollers: Iterable[PollerInfo]) -> list[PollerInfo]:
    """The pollers of a description that were seen within `POLLER_FRESH`: workers that run now."""
    cutoff = datetime.now(UTC) - POLLER_FRESH
    return [poller for poller in pollers if poller.last_access_time.ToDatetime(UTC) >= cutoff]


async def live_pollers(client: Client, task_queue: str) -> list[PollerInfo]:
    """The workflow-task pollers of `task_queue` seen within `POLLER_FRESH`: the workers that can run its workflows."""
    return fresh((await describe_queue(client, task_queue)).pollers)
