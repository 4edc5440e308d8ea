"""One trace per order, every layer linked: starter → workflow → each activity attempt → each HTTP call → the
service that answered. The services run in this process (uvicorn on free ports) so one in-memory exporter sees
every span; Temporal is the session's real dev server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import uvicorn
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.client import Client

from cadenza import telemetry
from cadenza.processes import free_port
from cadenza.settings import SERVICE_NAMES, ServiceEndpoint
from cadenza.stack import EmbeddedStack
from cadenza.telemetry import setup_tracing, temporal_plugins
from clients.orders import place_order, wait_for_result
from services import erp, inventory, payment
from starters.faults import FaultAdmin
from tests.conftest import make_order
from workers.worker import order_worker

pytestmark = pytest.mark.integration

APPS = {"erp": erp.create_app, "payment": payment.create_app, "inventory": inventory.create_app}


@dataclass
class Traced:
    client: Client
    exporter: InMemorySpanExporter
    faults: FaultAdmin
    task_queue: str
    endpoints: dict[str, ServiceEndpoint]


@pytest_asyncio.fixture(loop_scope="session")
async def traced(stack: EmbeddedStack, tmp_path) -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    setup_tracing("cadenza-test", processor=SimpleSpanProcessor(exporter))
    token, endpoints, servers = f"t-{uuid.uuid4().hex}", {}, []
    for name in SERVICE_NAMES:
        port = free_port()
        app = APPS[name](tmp_path / f"{name}.db", token)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        servers.append((server, asyncio.create_task(server.serve())))
        endpoints[name] = ServiceEndpoint(name, f"http://127.0.0.1:{port}", token)
    while not all(server.started for server, _ in servers):
        await asyncio.sleep(0.02)
    client = await Client.connect(
        stack.config.temporal_address, data_converter=stack.config.data_converter(), plugins=temporal_plugins()
    )
    task_queue = f"traced-{uuid.uuid4().hex}"
    try:
        async with httpx.AsyncClient() as http, order_worker(client, task_queue=task_queue, endpoints=endpoints):
            yield Traced(client, exporter, FaultAdmin(http, endpoints), task_queue, endpoints)
    finally:
        for server, task in servers:
            server.should_exit = True
            await task


def _trace_of(spans: tuple[ReadableSpan, ...], workflow_id: str) -> list[ReadableSpan]:
    [root] = [
        s
        for s in spans
        if s.name == "StartWorkflow:OrderWorkflow" and s.attributes.get("temporalWorkflowID") == workflow_id
    ]
    return [s for s in spans if s.context.trace_id == root.context.trace_id]


def _parent(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    return next(s for s in spans if span.parent is not None and s.context.span_id == span.parent.span_id)


def _names(spans: list[ReadableSpan], prefix: str) -> list[str]:
    return [s.name for s in spans if s.name.startswith(prefix)]


async def test_happy_order_is_one_trace_through_every_layer(traced: Traced):
    order = make_order()
    await traced.faults.script("payment", "error", times=1, match=f"{order.workflow_id}/charge_payment")
    await wait_for_result((await place_order(traced.client, order, task_queue=traced.task_queue)).handle)
    spans = _trace_of(traced.exporter.get_finished_spans(), order.workflow_id)

    assert "RunWorkflow:OrderWorkflow" in _names(spans, "RunWorkflow")
    # The retried charge: two attempts, each its own span, in the same trace.
    assert _names(spans, "RunActivity:charge_payment") == ["RunActivity:charge_payment"] * 2
    for activity in ("create_erp_order", "reserve_inventory", "confirm_erp_order", "commit_inventory"):
        assert f"RunActivity:{activity}" in _names(spans, "RunActivity")

    # Every service answered inside the trace: its server span's parent is the worker's HTTP client span,
    # whose parent is an activity attempt.
    server_spans = [s for s in spans if s.kind == SpanKind.SERVER and "http.route" in s.attributes]
    assert len(server_spans) >= 6
    for server_span in server_spans:
        http_call = _parent(server_span, spans)
        assert http_call.kind == SpanKind.CLIENT
        assert _parent(http_call, spans).name.startswith("RunActivity:")
    assert {s.attributes.get("http.route") for s in server_spans} >= {"/orders", "/charges", "/reservations"}


async def test_compensated_order_traces_its_compensations(traced: Traced):
    order = make_order(skus=("SKU-LAMP", "SKU-OOS"))
    result = await wait_for_result((await place_order(traced.client, order, task_queue=traced.task_queue)).handle)
    assert result.state == "compensated"
    spans = _trace_of(traced.exporter.get_finished_spans(), order.workflow_id)
    for compensation in ("release_inventory", "refund_payment", "cancel_erp_order"):
        assert f"RunActivity:{compensation}" in _names(spans, "RunActivity")
    # The refund is the payment service's fence of the charge's key, inside the compensation's attempt.
    fences = [s for s in spans if s.kind == SpanKind.SERVER and s.attributes.get("http.route") == "/fences"]
    assert "RunActivity:refund_payment" in {_parent(_parent(fence, spans), spans).name for fence in fences}


@pytest_asyncio.fixture(loop_scope="session")
async def untraced_worker(traced: Traced, stack: EmbeddedStack, monkeypatch) -> AsyncIterator[str]:
    """A second worker whose process exports no spans (as `cadenza worker` without OTEL_* settings), on a task queue
    of its own, beside the traced client and services of `traced`."""
    monkeypatch.setattr(telemetry, "_recording", False)
    client = await Client.connect(
        stack.config.temporal_address,
        data_converter=stack.config.data_converter(),
        plugins=telemetry.temporal_plugins(worker=True),
    )
    task_queue = f"untraced-{uuid.uuid4().hex}"
    async with order_worker(client, task_queue=task_queue, endpoints=traced.endpoints):
        yield task_queue


async def test_a_worker_that_exports_nothing_makes_no_spans_but_carries_the_orders_trace(
    traced: Traced, untraced_worker: str
):
    order = make_order()
    await wait_for_result((await place_order(traced.client, order, task_queue=untraced_worker)).handle)
    spans = _trace_of(traced.exporter.get_finished_spans(), order.workflow_id)

    # No span of the worker's own: building them only to drop them is what this saves.
    assert not [s for s in spans if s.name.startswith(("RunWorkflow", "StartActivity", "RunActivity"))]
    assert not [s for s in spans if s.kind == SpanKind.CLIENT and s.name != "StartWorkflow:OrderWorkflow"]
    # Every service still answered inside the order's trace, as a child of where the trace began (the client's
    # StartWorkflow span): the context went through the workflow, each activity and each HTTP call.
    [start] = [s for s in spans if s.name == "StartWorkflow:OrderWorkflow"]
    server_spans = [s for s in spans if s.kind == SpanKind.SERVER and "http.route" in s.attributes]
    assert {s.attributes.get("http.route") for s in server_spans} >= {"/orders", "/charges", "/reservations"}
    assert {s.parent.span_id for s in server_spans} == {start.context.span_id}
