"""Asking a running execution for its status without waiting out a query that no worker will take.

Temporal answers a query through a worker of the execution's task queue. With none polling, the server holds the
query until the caller gives up: 30 s, the client's default deadline. A status read (`cadenza order status`, the Order
API's GET, a saga run's page) would hang that long and then say "no worker". So the first ask gets `FIRST_ANSWER`; a
query still unanswered by then is asked again with the full deadline only if a worker polls the queue (a busy worker, or
a long first workflow task that the query waits behind, answers late but answers). With no live poller the read says so
at once: `NoWorkerPolls`. A run pinned to a build (Worker Versioning) is answered only by that build's workers, so
for it only their pollers count: workers of a newer build on the same queue cannot answer for an order left on a
retired one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionDescription, WorkflowHandle
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError, RPCStatusCode

from cadenza.errors import CadenzaError
from cadenza.pollers import live_pollers, pinned_to

FIRST_ANSWER = timedelta(seconds=5)
"""How long a status query may go unanswered before we look for a worker: a worker that polls answers in
milliseconds, or once the workflow task in flight completes."""

_GAVE_UP = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


class NoWorkerPolls(CadenzaError, RuntimeError):
    """No worker polls the execution's task queue, so nothing can answer a query now. The execution itself is fine:
    it goes on once a worker starts."""


async def ask_status(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    query: Any,
    *,
    within: float | None = None,
    description: WorkflowExecutionDescription | None = None,
) -> Any:
    """The answer to `query` (a status query of the workflow); `NoWorkerPolls` when no worker that could answer polls
    its task queue. `within` (seconds) shortens the first ask for a caller with less time left; `description` is the
    execution's, for a caller that has described it already (otherwise it is described when needed). Any other
    failure of the query is raised as the SDK raises it."""
    first = FIRST_ANSWER
    if within is not None and within < first.total_seconds():
        first = timedelta(seconds=max(within, 0.05))
    try:
        # The SDK may ask again after a deadline the server reports itself (a busy server does, before ours runs
        # out), each time with the whole `first`: the outer timeout bounds the first ask however often it is asked.
        async with asyncio.timeout(first.total_seconds() + 0.5):
            return await handle.query(query, rpc_timeout=first)
    except TimeoutError:
        pass
    except RPCError as err:
        if err.status not in _GAVE_UP:
            raise
    description = description or await handle.describe()
    task_queue = description.task_queue
    version = pinned_to(description.raw_description.workflow_execution_info)
    if not await live_pollers(client, task_queue, version=version):
        raise _nobody_answers(handle.id, task_queue, version)
    return await handle.query(query)


def _nobody_answers(workflow_id: str, task_queue: str, version: WorkerDeploymentVersion | None) -> NoWorkerPolls:
    if version is None:
        return NoWorkerPolls(
            f"no worker polls task queue {task_queue}, so nothing can answer for {workflow_id} now",
            next_step="start a worker on that task queue (`cadenza worker`, or `cadenza up` locally)",
        )
    build = f"build {version.build_id} of deployment {version.deployment_name}"
    return NoWorkerPolls(
        f"{workflow_id} is pinned to {build}, and no worker of that build polls task queue {task_queue}, so "
        "nothing can answer for it now (workers of other builds cannot)",
        next_step=(
            f"run a worker of that build (CADENZA_BUILD_ID={version.build_id} cadenza worker), or, if the current "
            f"build replays its history, move it there: `temporal workflow update-options --workflow-id {workflow_id} "
            "--versioning-override-behavior pinned --versioning-override-deployment-name "
            f"{version.deployment_name} --versioning-override-build-id <current build>` (docs/deploying.md)"
        ),
    )
