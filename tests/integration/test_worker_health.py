"""The worker's metrics port as Kubernetes and Prometheus use it: a real worker against a real dev server answers
/readyz 200 only once Temporal sees it polling, /metrics with the Temporal core's metrics, /healthz 200, and 503 on
both probes once the worker has shut down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.client import Client

from cadenza import pollers
from cadenza.connection import connect
from cadenza.processes import free_port
from cadenza.stack import EmbeddedStack
from workers import health as health_module
from workers.health import HealthSettings, health_endpoint, worker_runtime
from workers.worker import order_worker, worker_options

pytestmark = pytest.mark.integration


async def _until_ready(http: httpx.AsyncClient, url: str) -> httpx.Response:
    async with asyncio.timeout(30):
        while (answer := await http.get(url)).status_code != 200:
            await asyncio.sleep(0.5)
    return answer


async def _worker_client(stack: EmbeddedStack, service_name: str) -> tuple[HealthSettings, Client]:
    """Health and metrics on free ports, and a client on the worker runtime that serves the metrics there."""
    settings = HealthSettings("127.0.0.1", free_port(), free_port())
    client = await connect(
        service_name=service_name,
        address=stack.config.temporal_address,
        converter=stack.config.data_converter(),
        runtime=worker_runtime(settings),
    )
    return settings, client


async def test_probes_and_metrics_follow_the_worker(stack: EmbeddedStack, monkeypatch):
    monkeypatch.setattr(health_module, "READY_CACHE", 0.0)  # every probe asks Temporal: the test sees each change
    settings, client = await _worker_client(stack, "health-test")
    task_queue = f"health-{uuid.uuid4().hex}"
    base = f"http://127.0.0.1:{settings.port}"
    async with httpx.AsyncClient(timeout=10) as http, health_endpoint(settings) as health:
        not_yet = await http.get(f"{base}/readyz")
        assert not_yet.status_code == 503 and "not running" in not_yet.json()["reason"]
        assert (await http.get(f"{base}/healthz")).status_code == 200

        async with order_worker(client, task_queue=task_queue, endpoints=stack.config.endpoints()) as worker:
            health.watch(worker)
            ready = await _until_ready(http, f"{base}/readyz")
            assert ready.json() == {"task_queue": task_queue, "identity": client.identity, "status": "ready"}
            alive = await http.get(f"{base}/healthz")
            assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
            metrics = await http.get(f"{base}/metrics")
            assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
            assert f'task_queue="{task_queue}"' in metrics.text and "temporal_num_pollers" in metrics.text

            # Readiness is Temporal's view, not the worker object's: a poller not seen recently is not ready.
            monkeypatch.setattr(pollers, "POLLER_FRESH", timedelta(0))
            unseen = await http.get(f"{base}/readyz")
            assert unseen.status_code == 503 and "has seen no workflow or activity poller" in unseen.json()["reason"]
            monkeypatch.undo()

        gone = await http.get(f"{base}/readyz")
        assert gone.status_code == 503 and gone.json()["reason"] == "worker is not running (shut down)"
        dead = await http.get(f"{base}/healthz")
        assert (dead.status_code, dead.json()) == (503, {"reason": "worker has shut down"})


async def _scraped_pollers(http: httpx.AsyncClient, port: int, task_queue: str) -> dict[str, float]:
    """`temporal_num_pollers` of `task_queue` by poller type, from the worker's /metrics (the Core's gauges)."""
    metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    counts: dict[str, float] = {}
    for line in metrics.splitlines():
        if line.startswith("temporal_num_pollers{") and f'task_queue="{task_queue}"' in line:
            poller_type = line.split('poller_type="', 1)[1].split('"', 1)[0]
            counts[poller_type] = float(line.rsplit(" ", 1)[1])
    return counts


async def test_every_workflow_task_poller_may_poll_the_task_queue_where_new_orders_arrive(stack: EmbeddedStack):
    """A happy order is one workflow task, and a first workflow task never comes on the sticky queue: with the SDK's
    ratio (0.2) four of a worker's five workflow-task pollers would wait on the sticky queue and one would fetch every
    new order (docs/performance.md, "What each change did"). The sticky queue keeps its one poller."""
    settings, client = await _worker_client(stack, "pollers-test")
    task_queue = f"pollers-{uuid.uuid4().hex}"
    options = worker_options()
    maximum = options["workflow_task_poller_behavior"].maximum
    async with (
        httpx.AsyncClient(timeout=10) as http,
        health_endpoint(settings),
        order_worker(client, task_queue=task_queue, endpoints=stack.config.endpoints()),
    ):
        # The Core opens its polls one after the other: look until the task queue has all of them, or 30 s have passed.
        for _ in range(60):
            pollers = await _scraped_pollers(http, settings.port, task_queue)
            if pollers.get("workflow_task") == maximum and pollers.get("sticky_workflow_task", 0) >= 1:
                break
            await asyncio.sleep(0.5)
        assert (pollers.get("workflow_task"), pollers.get("sticky_workflow_task")) == (maximum, 1), pollers
