"""Who polls a task queue now: the one place that asks Temporal (`DescribeTaskQueue`) and decides which of the
pollers it lists are workers that still run, and which of them may take a given run (`pinned_to`).

The server lists a poller for minutes after its worker stopped (until its poller history expires), so a poller counts
only when it was seen within `POLLER_FRESH`. Readiness, `cadenza doctor`, the commands that start a worker when none
runs, and the doors' status reads (which answer "no worker" instead of waiting out a query nobody takes) all ask here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from temporalio.api.deployment.v1 import WorkerDeploymentVersion as VersionProto
from temporalio.api.enums.v1 import TaskQueueType, VersioningBehavior
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

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


async def live_pollers(
    client: Client, task_queue: str, *, version: WorkerDeploymentVersion | None = None
) -> list[PollerInfo]:
    """The workflow-task pollers of `task_queue` seen within `POLLER_FRESH`: the workers that can run its workflows;
    with `version`, only that build's (those that can take a run pinned to it)."""
    pollers = fresh((await describe_queue(client, task_queue)).pollers)
    return pollers if version is None else [poller for poller in pollers if polls_as(poller, version)]


def polls_as(poller: PollerInfo, version: WorkerDeploymentVersion) -> bool:
    """Whether the poller is a worker of that Worker Deployment version (deployment name and build id)."""
    options = poller.deployment_options
    return (options.deployment_name, options.build_id) == (version.deployment_name, version.build_id)


def pinned_to(execution: WorkflowExecutionInfo) -> WorkerDeploymentVersion | None:
    """The build whose workers alone take a run's workflow tasks and queries: the one an operator's override pins it
    to, else the one its own PINNED behaviour keeps it on (an order stays on the build it started on). None for a
    run that any worker of the current build may take."""
    versioning = execution.versioning_info
    override = versioning.versioning_override
    if override.HasField("pinned"):
        return _version(override.pinned.version)
    if override.auto_upgrade:
        return None
    if versioning.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED and versioning.deployment_version.build_id:
        return _version(versioning.deployment_version)
    return None


def _version(proto: VersionProto) -> WorkerDeploymentVersion:
    return WorkerDeploymentVersion(deployment_name=proto.deployment_name, build_id=proto.build_id)
