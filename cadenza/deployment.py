"""Cadenza's Worker Deployment on the Temporal server: what it holds, and the two changes Cadenza makes to it.

Workers join the deployment `<name>` with their build id (workers.worker). The server keeps one *version* per build
id, and routes new workflows to the *current* version (or a *ramping* share to another). `OrderWorkflow` is PINNED:
an order runs to its end on the version it started on, so a promoted build never replays an older build's history.

Read by `cadenza deploy status`, changed by `cadenza deploy promote` (starters/deploy.py) and by a worker's first-start
auto-promotion (`promote_if_first`). The Python SDK has no client API for deployments yet: these are the raw
WorkflowService calls that `temporal worker deployment ...` makes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypedDict, TypeVar

from temporalio.api.enums.v1 import (
    RoutingConfigUpdateState,
    TaskQueueType,
    VersionDrainageStatus,
    WorkerDeploymentVersionStatus,
)
from temporalio.api.workflowservice.v1 import (
    DescribeWorkerDeploymentRequest,
    DescribeWorkerDeploymentVersionRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

from cadenza.errors import CadenzaError
from cadenza.pollers import describe_queue, polls_as

log = logging.getLogger("cadenza.deployment")

# How long a starting worker waits for the server to register its version before it gives up auto-promoting. The
# server registers a version on the worker's first poll, about a second after start on the dev server.
REGISTRATION_TIMEOUT_SECONDS = 30.0
_RETRY_EVERY_SECONDS = 0.25
AUTO_PROMOTE_IDENTITY = "cadenza-worker auto-promote"


class DeploymentError(CadenzaError, RuntimeError):
    """A deployment change the server (or Cadenza) refused; the message says what to do next."""


@dataclass(frozen=True)
class VersionState:
    build_id: str
    status: str
    """current, ramping, draining, drained or inactive (never current)."""
    drainage: str | None
    """For a version that stopped receiving new workflows: draining (pinned workflows still open) or drained."""
    created: datetime | None
    task_queues: tuple[str, ...] = ()
    last_poll: datetime | None = None
    """The most recent poll the server remembers from a worker of this version (it forgets after a few minutes)."""

    @property
    def polled(self) -> bool:
        return self.last_poll is not None


@dataclass(frozen=True)
class DeploymentState:
    name: str
    current_build_id: str | None
    ramping_build_id: str | None
    ramp_percentage: float
    versions: tuple[VersionState, ...]
    conflict_token: bytes
    routing_propagated: bool = True
    """False while the server is still telling the task queues about the last routing change."""

    def version(self, build_id: str) -> VersionState | None:
        return next((version for version in self.versions if version.build_id == build_id), None)


def _enum_word(name: str, prefix: str) -> str:
    return name.removeprefix(prefix).lower()


def _when(timestamp) -> datetime | None:
    return timestamp.ToDatetime(tzinfo=UTC) if timestamp.seconds or timestamp.nanos else None


# The server answers for a deployment from the deployment's own system workflow; while that workflow is busy with a
# routing change (seen right after `cadenza deploy promote --force`), a describe can come back CANCELLED or
# DEADLINE_EXCEEDED. Describing is a read: asked again, a few times, before the error is the caller's.
_TRANSIENT = frozenset({RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED})
_DESCRIBE_TRIES = 5
_Answer = TypeVar("_Answer")


async def _asked_again_if_busy(ask: Callable[[], Awaitable[_Answer]]) -> _Answer:
    for tries_left in range(_DESCRIBE_TRIES - 1, -1, -1):
        try:
            return await ask()
        except RPCError as err:
            if err.status not in _TRANSIENT or not tries_left:
                raise
            await asyncio.sleep(_RETRY_EVERY_SECONDS)
    raise AssertionError("unreachable")  # pragma: no cover


async def describe_deployment(client: Client, name: str, *, with_pollers: bool = True) -> DeploymentState | None:
    """The deployment `name` with every version, or None if no worker of it has ever polled this namespace."""
    request = DescribeWorkerDeploymentRequest(namespace=client.namespace, deployment_name=name)
    try:
        described = await _asked_again_if_busy(lambda: client.workflow_service.describe_worker_deployment(request))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    info = described.worker_deployment_info
    routing = info.routing_config
    versions = []
    for summary in info.version_summaries:
        build_id = summary.deployment_version.build_id
        drainage = summary.drainage_info.status if summary.HasField("drainage_info") else summary.drainage_status
        version = VersionState(
            build_id=build_id,
            status=_enum_word(WorkerDeploymentVersionStatus.Name(summary.status), "WORKER_DEPLOYMENT_VERSION_STATUS_"),
            drainage=(
                None
                if drainage == VersionDrainageStatus.VERSION_DRAINAGE_STATUS_UNSPECIFIED
                else _enum_word(VersionDrainageStatus.Name(drainage), "VERSION_DRAINAGE_STATUS_")
            ),
            created=_when(summary.create_time),
        )
        if with_pollers:
            version = await _with_pollers(client, name, version)
        versions.append(version)
    return DeploymentState(
        name=info.name,
        current_build_id=routing.current_deployment_version.build_id or None,
        ramping_build_id=routing.ramping_deployment_version.build_id or None,
        ramp_percentage=routing.ramping_version_percentage,
        versions=tuple(sorted(versions, key=lambda v: v.created or datetime.min.replace(tzinfo=UTC))),
        conflict_token=described.conflict_token,
        routing_propagated=(
            info.routing_config_update_state != RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS
        ),
    )


async def _with_pollers(client: Client, name: str, version: VersionState) -> VersionState:
    """The version's task queues and the last poll any of them saw from a worker of this build id."""
    this_version = WorkerDeploymentVersion(name, version.build_id)
    request = DescribeWorkerDeploymentVersionRequest(
        namespace=client.namespace, deployment_version=this_version._to_proto()
    )
    try:
        described = await _asked_again_if_busy(
            lambda: client.workflow_service.describe_worker_deployment_version(request)
        )
    except RPCError as err:
        # Listed in the deployment's summary a moment before the version itself can be described (a worker of it
        # has just started), or deleted in between: no task queue and no poll to report yet.
        if err.status == RPCStatusCode.NOT_FOUND:
            return version
        raise
    queues = sorted(
        {
            queue.name
            for queue in described.worker_deployment_version_info.task_queue_infos
            if queue.type == TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        }
    )
    polls = []
    for queue in queues:
        pollers = await describe_queue(client, queue)
        polls += [_when(poller.last_access_time) for poller in pollers.pollers if polls_as(poller, this_version)]
    last_poll = max((poll for poll in polls if poll is not None), default=None)
    return replace(version, task_queues=tuple(queues), last_poll=last_poll)


class _RoutingChange(TypedDict):
    """The fields both routing requests share (typed, so that each request's constructor checks them)."""

    namespace: str
    deployment_name: str
    build_id: str
    conflict_token: bytes
    allow_no_pollers: bool
    identity: str


async def route_to(
    client: Client,
    name: str,
    build_id: str,
    *,
    ramp: float | None = None,
    conflict_token: bytes = b"",
    allow_no_pollers: bool = False,
    identity: str = "cadenza",
) -> None:
    """Make `build_id` the current version (every new workflow of the deployment's task queues starts on it), or with
    `ramp` send that percentage of new workflows to it while the rest keep starting on the current version."""
    request = _RoutingChange(
        namespace=client.namespace,
        deployment_name=name,
        build_id=build_id,
        conflict_token=conflict_token,
        allow_no_pollers=allow_no_pollers,
        identity=identity,
    )
    service = client.workflow_service
    if ramp is None:
        await service.set_worker_deployment_current_version(SetWorkerDeploymentCurrentVersionRequest(**request))
    else:
        await service.set_worker_deployment_ramping_version(
            SetWorkerDeploymentRampingVersionRequest(**request, percentage=ramp)
        )


async def routing_propagated(client: Client, name: str, *, timeout: float = 10.0) -> bool:
    """Wait until every task queue of the deployment routes by its latest routing change; False if still not after
    `timeout` (the change is made, new workflows may briefly still start on the previous version)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await describe_deployment(client, name, with_pollers=False)
        if state is None or state.routing_propagated:
            return True
        await asyncio.sleep(_RETRY_EVERY_SECONDS)
    return False


async def running_on(client: Client, name: str, build_id: str) -> int:
    """How many open workflows run on a version (from visibility, which trails the server by about a second)."""
    query = f"TemporalWorkerDeploymentVersion = '{name}:{build_id}' AND ExecutionStatus = 'Running'"
    return (await client.count_workflows(query)).count


async def promote_if_first(
    client: Client, version: WorkerDeploymentVersion, *, timeout: float = REGISTRATION_TIMEOUT_SECONDS
) -> bool:
    """Make `version` current if its deployment has no working current version; True if this call did.

    For the embedded stack and development only (`CADENZA_DEPLOY_AUTO_PROMOTE`, default on; production turns it off):
    - a brand-new deployment has no current version, so new workflows would wait for unversioned workers that never
      come;
    - `cadenza up` keeps its history across restarts, and a restart after a commit brings a new build id: the current
      version is then the previous build, whose worker is gone (the server remembers no poller of it), and new orders
      would wait for it forever.
    A current version with workers polling is left alone: promoting the next build is a decision (`cadenza deploy
    promote`), never a side effect of a worker starting. Waits for the server to register the version (the worker's
    first poll), and passes the deployment's conflict token so that of two builds starting at once exactly one wins.
    """
    name = version.deployment_name
    deadline = time.monotonic() + timeout
    while True:
        state = await describe_deployment(client, name, with_pollers=False)
        current = state.current_build_id if state is not None else None
        if current == version.build_id or (current and await _has_pollers(client, name, current)):
            return False
        if state is not None and state.version(version.build_id) is not None:
            try:
                await route_to(
                    client, name, version.build_id, conflict_token=state.conflict_token, identity=AUTO_PROMOTE_IDENTITY
                )
            except RPCError as err:  # another worker changed the deployment first: look again
                log.info("auto-promote of %s raced another change (%s); checking again", version.build_id, err.message)
            else:
                await _report_promotion(client, name, version.build_id, previous=current)
                return True
        if time.monotonic() > deadline:
            raise DeploymentError(
                f"The server has not registered version {version.build_id!r} of Worker Deployment {name!r} within "
                f"{timeout:.0f} s, so it could not be made current. Check that the server supports Worker Versioning "
                f"(server >= 1.29.1), or set CADENZA_DEPLOY_AUTO_PROMOTE=0 and run `cadenza deploy promote "
                f"{version.build_id}`."
            )
        await asyncio.sleep(_RETRY_EVERY_SECONDS)


async def _has_pollers(client: Client, name: str, build_id: str) -> bool:
    version = await _with_pollers(client, name, VersionState(build_id=build_id, status="", drainage=None, created=None))
    return version.polled


async def _report_promotion(client: Client, name: str, build_id: str, *, previous: str | None) -> None:
    if previous is None:
        log.info("deployment %r had no current version: %r is now current", name, build_id)
        return
    # Orders pinned to the abandoned build wait for a worker of it: say so, with both ways out.
    stranded = await running_on(client, name, previous)
    log.warning(
        "deployment %r: current build %r had no worker, %r is now current. %d workflow(s) pinned to %r wait for a "
        "worker of that build: run one (CADENZA_BUILD_ID=%s cadenza worker), or move them to this build with "
        "`temporal workflow update-options --query \"TemporalWorkerDeploymentVersion='%s:%s'\" "
        "--versioning-override-behavior pinned --versioning-override-deployment-name %s "
        "--versioning-override-build-id %s` if this build can replay their histories.",
        name,
        previous,
        build_id,
        stranded,
        previous,
        previous,
        name,
        previous,
        name,
        build_id,
    )
