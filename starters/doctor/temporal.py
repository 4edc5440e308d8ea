"""The Temporal checks: reachable with the active profile, namespace, search attributes, workers polling."""

from __future__ import annotations

from temporalio.api.enums.v1 import NamespaceState
from temporalio.api.taskqueue.v1 import PollerInfo
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    DescribeTaskQueueResponse,
    GetSystemInfoRequest,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from cadenza.connection import (
    CONFIG_FILE_ENV,
    PROFILE_ENV,
    TemporalConfigInvalid,
    TemporalUnavailable,
    active_profile,
    config_file,
    connect,
    connect_config,
)
from cadenza.pollers import ACTIVITY, WORKFLOW, describe_queue, fresh
from cadenza.search_attributes import create_commands, missing_search_attributes
from cadenza.settings import dev_server_ports, settings
from starters.doctor.model import Check, Context, Outcome, failed, passed

_PROFILE_FIX = (
    f"Point {PROFILE_ENV} / {CONFIG_FILE_ENV} at a profile (examples/temporal.toml), or set TEMPORAL_ADDRESS, "
    "TEMPORAL_NAMESPACE and TEMPORAL_API_KEY (or TEMPORAL_TLS_CLIENT_CERT_PATH + TEMPORAL_TLS_CLIENT_KEY_PATH)"
)


def describe_connection(config: dict) -> str:
    """Where and how this process connects, without its secrets."""
    tls = config.get("tls")
    if isinstance(tls, TLSConfig):
        security = "TLS with client certificate" if tls.client_cert else "TLS"
    else:
        security = "TLS" if tls else "plain text"
    if config.get("api_key"):
        security += ", API key"
    return (
        f"{config['target_host']} · namespace {config['namespace']} · profile {active_profile()} "
        f"({config_file()}) · {security}"
    )


async def reachable(ctx: Context) -> Outcome:
    try:
        ctx.connection = connect_config()
    except TemporalConfigInvalid as err:
        return failed(str(err), _PROFILE_FIX)
    where = describe_connection(ctx.connection)
    try:
        # No payloads travel in these checks: the plain converter keeps a key problem out of this row (it has its own).
        client = await connect(service_name="cadenza-doctor", converter=DataConverter.default, traced=False)
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    except (TemporalUnavailable, RPCError) as err:
        return failed(f"{where}: {getattr(err, '__cause__', None) or err}", _unreachable_fix(ctx.connection))
    ctx.client = client
    return passed(f"{where} · server {info.server_version or 'unknown version'}")


def _unreachable_fix(config: dict) -> str:
    local = config["target_host"] in (
        f"localhost:{dev_server_ports().frontend}",
        f"127.0.0.1:{dev_server_ports().frontend}",
    )
    if local:
        return f"Start the embedded stack: `cadenza up`. A cluster instead: {_PROFILE_FIX}"
    return (
        f"Check that {config['target_host']} is reachable from here and the credentials are right: {_PROFILE_FIX}. "
        "Temporal Cloud: the namespace endpoint <namespace>.<account>.tmprl.cloud:7233 with mTLS, or the regional "
        "endpoint with an API key"
    )


async def namespace_exists(ctx: Context) -> Outcome:
    assert ctx.client is not None
    namespace = ctx.client.namespace
    try:
        described = await ctx.client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return failed(
                f"namespace {namespace} does not exist",
                f"Create it: `temporal operator namespace create --namespace {namespace}` (self-hosted), or in the "
                "Temporal Cloud UI; or set TEMPORAL_NAMESPACE to an existing one",
            )
        if err.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED):
            return failed(
                f"not allowed to use namespace {namespace}: {err.message}",
                "Use an API key or client certificate with access to this namespace (TEMPORAL_API_KEY, "
                "TEMPORAL_TLS_CLIENT_CERT_PATH) or the right TEMPORAL_NAMESPACE",
            )
        raise
    state = NamespaceState.Name(described.namespace_info.state).removeprefix("NAMESPACE_STATE_").lower()
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    return passed(
        f"{namespace} · {state} · closed orders' history kept {retention.days} day{'s' * (retention.days != 1)}"
    )


async def search_attributes(ctx: Context) -> Outcome:
    assert ctx.client is not None
    missing = await missing_search_attributes(ctx.client)
    if missing:
        return failed(
            f"namespace {ctx.client.namespace} lacks {', '.join(missing)}: every order's workflow task would fail",
            f"Run `cadenza worker` once with rights to add them, or have an admin run: "
            f"{create_commands(ctx.client.namespace, missing)}",
        )
    return passed(f"all registered in {ctx.client.namespace}")


async def workers_polling(ctx: Context) -> Outcome:
    assert ctx.client is not None
    client = ctx.client
    task_queue = settings().task_queue
    described = [await describe_queue(client, task_queue, kind) for kind in (WORKFLOW, ACTIVITY)]
    workers: dict[str, str] = {}
    for response in described:
        for poller in fresh(response.pollers):
            workers.setdefault(poller.identity, _build(poller))
    if not workers:
        return failed(
            f"no worker polls task queue {task_queue} in namespace {client.namespace}",
            f"Start one with the same TEMPORAL_* settings: `CADENZA_TASK_QUEUE={task_queue} cadenza worker` "
            "(locally `cadenza up` runs one)",
        )
    listed = ", ".join(f"{identity} ({build})" for identity, build in sorted(workers.items()))
    return passed(f"{len(workers)} on {task_queue}: {listed}{_versioning(described[0])}")


def _build(poller: PollerInfo) -> str:
    if poller.deployment_options.build_id:
        options = poller.deployment_options
        return f"deployment {options.deployment_name}, build {options.build_id}"
    build_id = poller.worker_version_capabilities.build_id  # without versioning, the SDK's hash of the worker's code
    return f"unversioned, build {build_id[:12]}" if build_id else "unversioned"


def _versioning(response: DescribeTaskQueueResponse) -> str:
    info = response.versioning_info
    current = info.current_deployment_version
    if not current.build_id:
        return ""
    ramping = info.ramping_deployment_version
    ramp = f", ramping {ramping.build_id} at {info.ramping_version_percentage:g}%" if ramping.build_id else ""
    return f" · current version {current.deployment_name}.{current.build_id}{ramp}"


CHECKS = [
    Check("Temporal reachable", reachable, on_timeout=_PROFILE_FIX),
    Check("namespace", namespace_exists, needs_temporal=True),
    Check("search attributes", search_attributes, needs_temporal=True),
    Check("workers polling", workers_polling, needs_temporal=True),
]
