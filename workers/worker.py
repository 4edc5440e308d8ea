"""Building and running a Cadenza worker. Scale out by running more of them against the same task queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import (
    Interceptor,
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkerDeploymentConfig,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.http import ServiceClients, new_http_client
from activities.operation_calls import OperationCalls
from activities.orders import OrderActivities
from activities.reconcile import ReconcileActivities
from cadenza.build_id import build_id
from cadenza.codec import KeyRing
from cadenza.connection import connect, encryption_required, encryption_summary, key_ring
from cadenza.decision_keys import decision_keys
from cadenza.deployment import promote_if_first
from cadenza.logs import configure_logging
from cadenza.search_attributes import ensure_search_attributes
from cadenza.settings import ServiceEndpoint, deploy_auto_promote, deployment_name, service_endpoints, settings
from cadenza.shutdown import WORKER_GRACEFUL_SHUTDOWN
from cadenza.signals import run_until_signalled
from workers.decision_check import DecisionCheck
from workers.health import check_health_port, health_endpoint, worker_runtime
from workers.intake import MarkingRunner, PlaintextIntake
from workers.metrics import ActivityAttempts
from workflows.declared_saga import DeclaredSagaWorkflow
from workflows.models import WORKFLOW_ID_PREFIX
from workflows.order import OrderWorkflow
from workflows.reconcile import ReconcileWorkflow

log = logging.getLogger("cadenza.worker")

WORKFLOWS = [OrderWorkflow, ReconcileWorkflow, DeclaredSagaWorkflow]


@dataclass(frozen=True)
class Versioning:
    """Which Worker Deployment version a worker runs as, and whether it may make itself the first current version."""

    version: WorkerDeploymentVersion
    auto_promote: bool

    @classmethod
    def from_settings(cls) -> Versioning:
        """`CADENZA_DEPLOYMENT_NAME`, `CADENZA_BUILD_ID` (else derived, once per process) and
        `CADENZA_DEPLOY_AUTO_PROMOTE`."""
        return cls(WorkerDeploymentVersion(deployment_name(), build_id()), deploy_auto_promote())

    def deployment_config(self) -> WorkerDeploymentConfig:
        # No default behaviour: every workflow declares its own (OrderWorkflow PINNED — an order finishes on the build
        # it started on, so no build replays another's history; ReconcileWorkflow AUTO_UPGRADE), and the worker
        # refuses to start with one that does not, so a new workflow cannot slip in without choosing.
        return WorkerDeploymentConfig(
            version=self.version,
            use_worker_versioning=True,
        )


# Local first attempts (workflows/policies.py, LOCAL_ATTEMPT) time their call only once they hold a slot: about as many
# slots as the services have connections (activities/http.py), so that a burst of orders waits for a slot, not in a
# connection pool's queue, where the wait would count against the attempt's timeout and send it to the server.
LOCAL_ACTIVITY_SLOTS = 24


def workflow_runner() -> WorkflowRunner:
    """How workflow code runs, for workers and the replayer alike (they must agree, or replay proves nothing).

    Unsandboxed, because the sandbox is the largest cost of running OrderWorkflow that Cadenza controls: it builds an
    isolated module environment for every workflow run and routes every activation and every payload conversion
    through it, even with Cadenza's modules and pydantic passed through. Unsandboxed, both a replay and a worker's
    order cost markedly less CPU (docs/performance.md).

    The determinism trade-off: the sandbox's run-time guard is gone. Workflow code that read the clock or `random`,
    did I/O, or kept state at module level would no longer be stopped when it runs; it would show up later, on replay
    or recovery, as a non-determinism error. What keeps OrderWorkflow deterministic instead: workflow modules do no
    I/O and keep no module-level state (every effect is an activity; time and randomness only via `workflow.now()`
    and `workflow.random()`), and every recorded history in tests/histories must replay against the current code
    (tests/replay, `cadenza replay`), which is where a non-deterministic change fails before it ships. To get the
    guard back while debugging, wrap `SandboxedWorkflowRunner()` here instead: the code runs unchanged under both.

    Wrapped in `MarkingRunner`, which tells `PlaintextIntake` which starts, updates and signals arrived unencrypted.
    """
    return MarkingRunner(UnsandboxedWorkflowRunner())


def workflow_checks(*, refuse_plaintext: bool | None = None, decisions: KeyRing | None = None) -> list[Interceptor]:
    """What a worker checks before workflow code sees a start, an update or a signal (docs/security.md, "Decisions"):
    unencrypted ones refused when encryption is required (`refuse_plaintext`, default: CADENZA_ENCRYPTION), decisions
    without a valid proof always (`decisions`: the keys proofs are checked with, default: this process's decision
    keys — a worker without any refuses to start)."""
    refuse = encryption_required() if refuse_plaintext is None else refuse_plaintext
    return [PlaintextIntake(refuse=refuse), DecisionCheck(decisions or decision_keys())]


def replay_checks() -> list[Interceptor]:
    """The `workflow_checks` a replayer needs to replay what a worker did: the plaintext intake (a start it refused
    replays as refused). Not the decision check: validators never run on replay, so it would only ask for keys."""
    return [PlaintextIntake(refuse=encryption_required())]


def worker_options(
    *, sdk_defaults: bool = False, versioning: Versioning | None = None, decisions: KeyRing | None = None
) -> dict[str, Any]:
    """Every tuning option of a Cadenza worker, in this one place: `cadenza up`, `cadenza worker`, docker and the tests
    all build their worker with `order_worker`, which takes its options from here.

    `sdk_defaults=True` gives the SDK's defaults instead (default sandbox, default slots and pollers, no
    `workflow_checks`): the sample-style reference `cadenza bench` compares against, never used to run orders.

    Every worker is a Worker Deployment version (`versioning`, default `Versioning.from_settings()`), the reference
    too: a server refuses the workflow tasks of an unversioned worker running a workflow that declares a versioning
    behaviour, as OrderWorkflow does ("versioning behavior cannot be specified without deployment options being set
    with versioned mode"). The time-skipping test server ignores it.

    `decisions`: the keys the worker checks decision proofs with (`workflow_checks`), default this process's.
    """
    deployment = {"deployment_config": (versioning or Versioning.from_settings()).deployment_config()}
    if sdk_defaults:
        return {"workflow_runner": SandboxedWorkflowRunner(), **deployment}
    return {
        **deployment,
        "workflow_runner": workflow_runner(),
        "interceptors": workflow_checks(decisions=decisions),
        **capacity_options(),
        # Eager activity dispatch: the first attempt of each activity comes back with the workflow task's reply instead
        # of through matching, while the server still schedules, times and retries it (cadenza.stack enables it on
        # the dev server).
        "disable_eager_activity_execution": False,
    }


def capacity_options() -> dict[str, Any]:
    """How much a Cadenza worker may run at once and where it polls: also the benchmark's floor worker's
    (starters/bench/floor.py), so that the two differ in what runs, not in how much of it may run at once."""
    return {
        # Sized with `cadenza bench` on 2 cores shared with the server and the services (docs/performance.md). One
        # cached workflow per order in flight, so that a burst of 1000 runs without evictions (no history replays).
        # Other slot and poller counts, and autoscaling pollers, moved nothing beyond the run-to-run noise, so slots
        # and poller counts keep the SDK's values; they are spelled out so that a new SDK default cannot change Cadenza
        # unnoticed.
        "max_cached_workflows": 1000,
        "max_concurrent_workflow_tasks": 100,
        "max_concurrent_activities": 100,
        "max_concurrent_local_activities": LOCAL_ACTIVITY_SLOTS,
        "workflow_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=5),
        # Where the workflow-task pollers wait. A happy order is a single workflow task, and an execution's first
        # workflow task always comes on the task queue itself, never on this worker's sticky queue, which only gets an
        # order's later tasks (a review's decision, an escalated attempt's result, a query). The SDK's ratio (0.2)
        # leaves one of the five pollers on the task queue and four on the sticky queue, so every new order waits for
        # that one poller. At 1.0 all five poll the task queue; the sticky queue keeps the one poller the SDK always
        # gives it. Measured side by side in docs/performance.md ("What each change did").
        "nonsticky_to_sticky_poll_ratio": 1.0,
        "activity_task_poller_behavior": PollerBehaviorSimpleMaximum(maximum=5),
    }


@asynccontextmanager
async def order_worker(
    client: Client,
    *,
    task_queue: str | None = None,
    endpoints: Mapping[str, ServiceEndpoint] | None = None,
    sdk_defaults: bool = False,
    versioning: Versioning | None = None,
    decisions: KeyRing | None = None,
    workflows: Sequence[type] = WORKFLOWS,
) -> AsyncIterator[Worker]:
    """A running worker with the real activities and one shared HTTP client, closed on exit.

    Options come from `worker_options`. `sdk_defaults` is only for the benchmark's untuned, sample-style reference:
    SDK-default options and no tracing of HTTP calls. The worker is a version of a Worker Deployment (`versioning`,
    default `Versioning.from_settings()`); with `auto_promote` it makes itself current
    before it is handed out if the deployment has no current version with workers (cadenza.deployment.promote_if_first),
    so a fresh or restarted dev stack takes orders at once.
    `decisions`: the keys decision proofs are checked with, default this process's (`cadenza.decision_keys`); a
    worker beside a stack of its own (`cadenza bench`'s in-process profiles) passes the stack's.
    `workflows` other than `WORKFLOWS` only for tests (a changed build of the same workflow).
    """
    versioning = versioning or Versioning.from_settings()
    options = worker_options(sdk_defaults=sdk_defaults, versioning=versioning, decisions=decisions)
    await ensure_search_attributes(client)
    endpoints = endpoints or service_endpoints()
    async with new_http_client(endpoints, traced=not sdk_defaults) as http:
        activities = OrderActivities(ServiceClients(http, endpoints))
        worker = Worker(
            client,
            task_queue=task_queue or settings().task_queue,
            workflows=list(workflows),
            activities=activities.all()
            + ReconcileActivities(http, endpoints).all()
            + OperationCalls(http, endpoints).all(),
            # On SIGTERM, let in-flight HTTP calls finish rather than abandon them mid-request for another worker to
            # retry: an HTTP call is bounded by its 5 s timeout.
            graceful_shutdown_timeout=WORKER_GRACEFUL_SHUTDOWN,
            interceptors=[ActivityAttempts(), *options.pop("interceptors", [])],
            **options,
        )
        async with worker:
            if versioning.auto_promote:
                await promote_if_first(client, versioning.version)
            yield worker


async def run_worker(client: Client, *, task_queue: str | None = None, stop: asyncio.Event | None = None) -> None:
    task_queue = task_queue or settings().task_queue
    """Run until `stop` is set (or forever); in-flight activities finish before the worker shuts down."""
    versioning = Versioning.from_settings()
    async with (
        health_endpoint() as health,
        order_worker(client, task_queue=task_queue, versioning=versioning) as worker,
    ):
        health.watch(worker)  # /healthz, /readyz (and /metrics) on CADENZA_METRICS_PORT: workers.health
        version = versioning.version
        log.info("worker polling task queue %r as %s build %s", task_queue, version.deployment_name, version.build_id)
        await (stop or asyncio.Event()).wait()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (not on Windows), else asyncio's.

    A worker's event loop wakes up for every task completion the SDK's Core threads hand over, every workflow
    activation coming back from its thread and every HTTP read and write; uvloop does the same work in C, for less
    worker CPU per order (docs/performance.md). Workflow code is unaffected: each workflow runs on the SDK's own
    deterministic loop, not on this one."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    """Entry point of `python -m workers` and `cadenza worker`."""
    configure_logging(order_id_prefix=WORKFLOW_ID_PREFIX)
    service_endpoints()  # settings first: a service without its token refuses to start here, before anything connects

    async def serve(stop: asyncio.Event) -> None:
        decision_keys()  # before anything connects: a worker without them refuses to start, naming the variable
        check_health_port()  # so does one whose health and metrics port is taken
        client = await connect(service_name="cadenza-worker", runtime=worker_runtime(), worker=True)
        (log.info if key_ring() else log.warning)("%s", encryption_summary())
        await run_worker(client, stop=stop)

    run_until_signalled(serve, loop_factory=event_loop_factory())
