"""The worker's one HTTP port (`CADENZA_METRICS_PORT`, 9464 under `cadenza up` and compose): `GET /metrics`,
`GET /healthz` and `GET /readyz`, for Prometheus and for Kubernetes' probes.

Why a proxy for /metrics: the Temporal core's Prometheus exporter (cadenza.telemetry.metrics_runtime) answers every
path with metrics and cannot serve anything else, so it moves to a loopback port and this server forwards /metrics to
it. The alternative, the SDK's MetricBuffer, would hand every metric update to Python (several per activity, so per
order) to be aggregated into Prometheus text by code of ours; the proxy costs one loopback request per scrape and
nothing per order, and the text stays exactly what core produces.

/healthz (liveness): the event loop answers, has not stalled, and the worker has not shut down. A restart is the cure
for each of these, and for nothing that happens outside this process (Temporal down is not a reason to restart).
/readyz (readiness): the worker runs AND Temporal itself reports a poller with this worker's identity on its task
queue seen recently (`describe_task_queue`): the proof that it can get work, not just that it was constructed. The
answer is cached for a few seconds so that probes do not hammer the server; 503 carries a JSON reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from cadenza import pollers
from cadenza.pollers import ACTIVITY, WORKFLOW, describe_queue, fresh
from cadenza.processes import ensure_port_free, free_port
from cadenza.settings import METRICS_PORT_ENV, settings
from cadenza.telemetry import metrics_runtime

log = logging.getLogger("cadenza.worker")

PORT_ENV = METRICS_PORT_ENV
HOST_ENV = "CADENZA_METRICS_HOST"
DEFAULT_HOST = "127.0.0.1"
READY_CACHE = 5.0
"""Seconds a readiness answer is reused: probes every few seconds cost one pair of describe calls, not one each."""
LOOP_STALL = 10.0
"""Seconds without a tick of the event loop after which the process counts as hung."""
DESCRIBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class HealthSettings:
    host: str
    port: int
    core_port: int
    """Loopback port of the Temporal core's Prometheus exporter, which /metrics forwards to."""

    @property
    def core_address(self) -> str:
        return f"127.0.0.1:{self.core_port}"


@functools.cache
def health_settings() -> HealthSettings | None:
    """From `CADENZA_METRICS_PORT` (unset or 0: no port) and `CADENZA_METRICS_HOST` (default loopback: a deployment
    whose probes or Prometheus come from elsewhere says so, e.g. the pod's IP); read once, so that the runtime and the
    server agree on the core's port."""
    current = settings()
    if not current.metrics_port:
        return None
    return HealthSettings(current.metrics_host or DEFAULT_HOST, current.metrics_port, free_port())


def check_health_port(settings: HealthSettings | None = None) -> None:
    """Refuse to start (`PortInUse`: the message every door prints, exit 1) if the health port is taken: checked
    before the worker connects anywhere, and again as the server starts."""
    settings = settings or health_settings()
    if settings is not None:
        ensure_port_free(settings.host, settings.port, "worker metrics")


def worker_runtime(settings: HealthSettings | None = None) -> Runtime | None:
    """The worker's Temporal runtime: metrics exported on the loopback port /metrics forwards to; None (the SDK's
    default runtime, no metrics) without a port."""
    settings = settings or health_settings()
    return None if settings is None else metrics_runtime(settings.core_address)


class WorkerHealth:
    """What /healthz and /readyz answer, for the worker handed to `watch` (none yet: alive, not ready)."""

    def __init__(self) -> None:
        self.worker: Worker | None = None
        self._last_tick = time.monotonic()
        self._ready: tuple[float, bool, dict[str, object]] | None = None

    def watch(self, worker: Worker) -> None:
        self.worker = worker
        self._ready = None

    async def tick(self) -> None:
        """Runs for the server's lifetime: a loop that stops ticking is blocked (sync I/O, a hot loop)."""
        while True:
            self._last_tick = time.monotonic()
            await asyncio.sleep(1)

    def liveness(self) -> tuple[bool, dict[str, object]]:
        stalled = time.monotonic() - self._last_tick
        if stalled > LOOP_STALL:
            return False, {"reason": f"event loop stalled for {stalled:.1f} s"}
        if self.worker is not None and self.worker.is_shutdown:
            return False, {"reason": "worker has shut down"}
        return True, {"status": "alive"}

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        worker = self.worker
        if worker is None or not worker.is_running:
            return False, {
                "reason": "worker is not running" + (" (shut down)" if worker and worker.is_shutdown else "")
            }
        now = time.monotonic()
        if self._ready is None or now - self._ready[0] > READY_CACHE:
            self._ready = (now, *await _polling(worker))
        return self._ready[1], self._ready[2]


async def _polling(worker: Worker) -> tuple[bool, dict[str, object]]:
    """Whether Temporal has seen this worker's workflow and activity pollers recently."""
    client = worker.client
    identity = worker.config().get("identity") or client.identity
    kinds = {"workflow": WORKFLOW, "activity": ACTIVITY}
    try:
        described = await asyncio.gather(
            *(
                describe_queue(client, worker.task_queue, kind, timeout=timedelta(seconds=DESCRIBE_TIMEOUT))
                for kind in kinds.values()
            )
        )
    except Exception as err:  # noqa: BLE001 - any failure to ask is "not ready", with the reason: never a 500 to a probe
        return False, {"reason": f"cannot ask Temporal about task queue {worker.task_queue}: {err}"}
    stale = [
        kind
        for kind, response in zip(kinds, described, strict=True)
        if not any(poller.identity == identity for poller in fresh(response.pollers))
    ]
    detail: dict[str, object] = {"task_queue": worker.task_queue, "identity": identity}
    if stale:
        return False, detail | {
            "reason": f"Temporal has seen no {' or '.join(stale)} poller of this worker on the task queue in the last "
            f"{pollers.POLLER_FRESH.seconds} s"
        }
    return True, detail | {"status": "ready"}


def health_app(health: WorkerHealth, core_metrics_url: str) -> Starlette:
    http = httpx.AsyncClient(timeout=5)

    async def metrics(_: Request) -> Response:
        try:
            core = await http.get(core_metrics_url)
        except httpx.HTTPError as err:
            return PlainTextResponse(f"# the Temporal core's metrics exporter did not answer: {err}\n", 503)
        return Response(core.content, core.status_code, media_type=core.headers.get("content-type"))

    async def healthz(_: Request) -> Response:
        ok, body = health.liveness()
        return JSONResponse(body, 200 if ok else 503)

    async def readyz(_: Request) -> Response:
        ok, body = await health.readiness()
        return JSONResponse(body, 200 if ok else 503)

    routes = [Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with http:
            yield

    return Starlette(routes=routes, lifespan=lifespan)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the worker's event loop: the worker's own SIGTERM handling (cadenza.signals) stays in charge."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def health_endpoint(settings: HealthSettings | None = None) -> AsyncIterator[WorkerHealth]:
    """Serve /metrics, /healthz and /readyz for the block (nothing without a port). Enter it before the worker and
    `watch` the worker: the port then outlives the worker's graceful shutdown, reporting it."""
    settings = settings or health_settings()
    health = WorkerHealth()
    if settings is None:
        yield health
        return
    check_health_port(settings)
    app = health_app(health, f"http://{settings.core_address}/metrics")
    server = _EmbeddedServer(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    ticking = asyncio.create_task(health.tick())
    try:
        while not server.started:
            if serving.done():  # e.g. the port is taken (uvicorn exits): say so now, not at the first probe
                raise SystemExit(
                    f"Cannot serve the worker's metrics and health checks on {settings.host}:{settings.port} (see the "
                    f"line above); set {PORT_ENV} to a free port, or 0 for none."
                )
            await asyncio.sleep(0.02)
        log.info(
            "metrics and health checks on http://%s:%d (/metrics, /healthz, /readyz)", settings.host, settings.port
        )
        yield health
    finally:
        ticking.cancel()
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
