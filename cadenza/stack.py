"""The embedded stack: Temporal dev server (+ Web UI), the simulated services (the order saga's three and the travel
example's three; services/README.md says why all six by default) and a worker, as child processes of one supervisor.
`cadenza up` runs it in the foreground; `cadenza demo` and the tests start one on demand.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter

from cadenza import codec
from cadenza.binaries import temporal_cli
from cadenza.build_id import build_id
from cadenza.decision_keys import DECISION_KEYS
from cadenza.private_files import private_dir, tighten
from cadenza.processes import ChildProcess, PortInUse, free_port, http_ok, port_in_use, stop_together
from cadenza.search_attributes import dev_server_flags
from cadenza.settings import (
    DEFAULT_SERVICE_TOKEN,
    EMBEDDED_ENV,
    METRICS_PORT_ENV,
    SERVICE_NAMES,
    TRAVEL_SERVICE_NAMES,
    ServiceEndpoint,
    api_port,
    codec_port,
    deployment_name,
    dev_server_ports,
    metrics_port,
    service_endpoint,
    settings,
    state_dir,
)
from cadenza.shutdown import WORKER_STOP_TIMEOUT_SECONDS

# The dev server's defaults are tuned for a laptop demo, not latency: with one history shard and the transfer queue
# polled at most 20 times a second, every workflow-task hand-off can wait up to 50 ms, which one order at a time feels
# several times over; a burst is CPU-bound either way. Eager activity dispatch (the activity's first attempt handed
# back with the workflow task's reply, still scheduled, timed and retried by the server) and eager workflow start are
# on by default in the bundled server but not in older ones, and a `temporal` on PATH may be older. Left out because
# they gained nothing beyond the noise: search attribute cache refresh off, one task-queue partition, a larger history
# cache. The figures are in docs/performance.md ("What each change did").
TUNED_DYNAMIC_CONFIG = (
    "history.transferProcessorMaxPollRPS=1000",
    "system.enableActivityEagerExecution=true",
    "system.enableEagerWorkflowStart=true",
)

# Worker Versioning needs nothing switched on in the bundled server (GA since 1.29.1). What these change: a version
# that stops receiving new workflows is DRAINING until its last pinned workflow closed, and the server only calls it
# DRAINED after a visibility grace period (default 3 min) and re-checks on an interval (default 3 min). On the embedded
# stack a local rollout (docs/deploying.md, "Versioned rollouts") then drains in seconds instead of up to six minutes;
# a production server keeps its defaults. Duration values are JSON strings.
VERSIONING_DYNAMIC_CONFIG = (
    'matching.wv.VersionDrainageStatusVisibilityGracePeriod="5s"',
    'matching.wv.VersionDrainageStatusRefreshInterval="1s"',
)

# The dev server's SQLite file (persistent history, `cadenza up`'s default): SQLite's default rollback journal makes
# each of the server's many small transactions create, sync and delete a journal file besides syncing the database;
# in write-ahead-log mode a commit is one append to the log. `synchronous=FULL` keeps what a commit promised: every
# write the server acknowledged survives a crash of the machine, not just of the process. Measured in
# docs/performance.md ("What each change did").
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=full")

Progress = Callable[[str], None]

# What the stack keeps in its state folder (a folder that may also hold a user's own files, which stay as they are).
STATE_FILES = ("*.db", "*.db-*", "logs", "logs/*.log", codec.STATE_KEYS_FILE)

NAMESPACE = "default"
"""The dev server's one namespace: every process of the stack connects to it, so its payloads are bound to it."""


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    temporal_port: int
    ui_port: int | None
    service_ports: dict[str, int]
    token: str = DEFAULT_SERVICE_TOKEN
    task_queue: str = field(default_factory=lambda: settings().task_queue)
    with_worker: bool = True
    # History in a SQLite file survives restarts of the dev server; None keeps it in memory (tests, benchmarks).
    persistent_history: bool = True
    dynamic_config: tuple[str, ...] = TUNED_DYNAMIC_CONFIG + VERSIONING_DYNAMIC_CONFIG
    # How the dev server keeps its SQLite file (with `persistent_history`): `--sqlite-pragma` values.
    sqlite_pragmas: tuple[str, ...] = SQLITE_PRAGMAS
    service_faults: dict[str, str] = field(default_factory=dict)
    # Prometheus endpoint of the (first) worker; None serves no metrics (tests, chaos runs with several workers).
    metrics_port: int | None = None
    # Where the Order API listens; None runs no API (tests that start it in-process, chaos runs, benchmarks).
    api_port: int | None = None
    # Payloads encrypted with `key_ring()`; False only for `cadenza bench`'s codec-cost profile
    # (CADENZA_ENCRYPTION=off).
    encryption: bool = True
    # Where the codec server listens (the Web UI is told to use it); None runs none (most tests, benchmarks).
    codec_port: int | None = None

    @classmethod
    def from_settings(cls) -> StackConfig:
        ports = dev_server_ports()
        # A travel service whose port is set to 0 is left out (CADENZA_FLIGHT_PORT=0 and so on).
        travel = [name for name in TRAVEL_SERVICE_NAMES if settings().get(f"CADENZA_{name.upper()}_PORT")]
        return cls(
            state_dir=state_dir(),
            temporal_port=ports.frontend,
            ui_port=ports.ui,
            service_ports={name: service_endpoint(name).port for name in (*SERVICE_NAMES, *travel)},
            token=service_endpoint("erp").token,
            metrics_port=metrics_port(),
            api_port=api_port(),
            codec_port=codec_port(),
        )

    def with_(self, **changes: object) -> StackConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.service_ports[name]}"

    def endpoints(self) -> dict[str, ServiceEndpoint]:
        return {name: ServiceEndpoint(name, self.service_url(name), self.token) for name in self.service_ports}

    @property
    def keys_file(self) -> Path:
        return self.state_dir / codec.STATE_KEYS_FILE

    def key_ring(self) -> codec.KeyRing:
        """The keys this stack's processes encrypt with: those configured in the environment (a team's shared keys),
        else the stack's own development key, created on first use and kept with its history: a history is only as
        readable as its keys are kept."""
        return codec.KeyRing.configured() or codec.ensure_key_file(self.keys_file)

    def decision_keys(self) -> codec.KeyRing:
        """The keys decisions on this stack's orders are signed with (cadenza.decision_keys): those configured in the
        environment, else the stack's own development key, created on first use. A process of its own that decides
        on them (chaos's reviewer) signs with these."""
        return codec.KeyRing.configured(setting=DECISION_KEYS) or codec.ensure_key_file(
            self.state_dir / DECISION_KEYS.state_file, DECISION_KEYS
        )

    def data_converter(self) -> DataConverter:
        """The converter of a client of this stack in a process of its own (tests, bench, chaos)."""
        return codec.data_converter(self.key_ring() if self.encryption else None, namespace=NAMESPACE)

    def client_env(self) -> dict[str, str]:
        """Environment under which Cadenza's own processes (worker, CLI) talk to this stack."""
        env = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": NAMESPACE,
            EMBEDDED_ENV: "1",  # this stack's dev server, not whatever Temporal the user's shell is configured for
            "CADENZA_TASK_QUEUE": self.task_queue,
            "CADENZA_SERVICE_TOKEN": self.token,
            # The stack never runs unencrypted (but for the benchmark's comparison): its children refuse to start
            # without keys.
            codec.ENCRYPTION_ENV: "required" if self.encryption else "off",
        }
        if self.encryption and not codec.keys_configured():
            env[codec.KEYS_FILE_ENV] = str(self.keys_file)
        if not codec.keys_configured(setting=DECISION_KEYS):
            env[DECISION_KEYS.file_env] = str(self.state_dir / DECISION_KEYS.state_file)
        for name in self.service_ports:
            env[f"CADENZA_{name.upper()}_URL"] = self.service_url(name)
        return env

    def worker_env(self, name: str) -> dict[str, str]:
        """The environment of the worker process `name`: only the first worker serves the configured metrics port; every
        other worker, and the first too when none is configured, serves none. Always said explicitly: a child inherits
        the shell's environment, and a `CADENZA_METRICS_PORT` exported there (for a `cadenza up` next door) would make
        every worker of this stack bind that one port, and all but one exit."""
        port = self.metrics_port if name == "worker" else None
        return {**self.client_env(), METRICS_PORT_ENV: str(port or 0)}

    def ports(self) -> dict[str, int]:
        named = {"Temporal": self.temporal_port, **self.service_ports}
        if self.ui_port is not None:
            named["Temporal Web UI"] = self.ui_port
        if self.with_worker and self.metrics_port is not None:
            named["worker metrics"] = self.metrics_port
        if self.api_port is not None:
            named["Order API"] = self.api_port
        if self.codec_port is not None:
            named["codec server"] = self.codec_port
        return named

    @property
    def codec_url(self) -> str | None:
        # `localhost`, as people type it: the Web UI's browser and `temporal --codec-endpoint` call this address.
        return None if self.codec_port is None else f"http://localhost:{self.codec_port}"

    @property
    def api_url(self) -> str | None:
        return None if self.api_port is None else f"http://127.0.0.1:{self.api_port}"


class EmbeddedStack:
    """Starts the stack's processes in dependency order and stops them in reverse."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.temporal_binary, self.temporal_origin = temporal_cli()
        self.children: list[ChildProcess] = []
        self._logs = config.state_dir / "logs"
        # The dev server's Web UI answers any Host (DNS rebinding): it listens on this private port, and the UI's port
        # belongs to cadenza.web_ui_guard, which refuses other names. Kept across restarts of the dev server.
        self.ui_upstream_port = free_port() if config.ui_port is not None else None

    # ---- lifecycle ------------------------------------------------------------------------------------------------

    def check_ports_free(self, only: Mapping[str, int] | None = None) -> None:
        ports = self.config.ports() if only is None else only
        taken = [f"{port} ({name})" for name, port in ports.items() if port_in_use(port)]
        if taken:
            raise PortInUse(taken)

    async def start(self, progress: Progress = lambda _: None) -> None:
        """Temporal, then the services, then (if configured) the worker; on any failure, stop what started."""
        self.check_ports_free()
        await self._starting(self._start_all(progress))

    async def start_services(self, progress: Progress = lambda _: None) -> None:
        """Only the simulated services (`cadenza services`)."""
        self.check_ports_free(only=self.config.service_ports)
        await self._starting(self._start_services(progress))

    async def _starting(self, steps: Awaitable[None]) -> None:
        # Customer data (the services' SQLite files, Temporal's history), logs and the key: nobody else's to read.
        # Files an older version left readable are tightened; what the children create is private already (umask).
        private_dir(self.config.state_dir)
        tighten(path for pattern in STATE_FILES for path in self.config.state_dir.glob(pattern))
        if self.config.encryption:
            self.config.key_ring()  # the development key exists before any child needs it
        self.config.decision_keys()  # so does the development decision key
        try:
            await steps
        except BaseException:
            self.stop()
            raise

    async def _start_all(self, progress: Progress) -> None:
        progress(f"Starting Temporal dev server ({self.temporal_binary}, {self.temporal_origin})")
        await self._start_temporal()
        if self.config.ui_port is not None:
            await self._start_web_ui_guard()
        await self._start_services(progress)
        if self.config.with_worker:
            progress(
                f"Starting worker on task queue {self.config.task_queue} "
                f"(Worker Deployment {deployment_name()}, build {build_id()})"
            )
            await self._start_worker()
        if self.config.api_port is not None:
            progress(f"Starting the Order API on port {self.config.api_port}")
            await self._start_api()
        if self.config.codec_port is not None:
            progress(f"Starting the codec server on port {self.config.codec_port}")
            await self._start_codec_server()

    async def _start_services(self, progress: Progress) -> None:
        # All at once: each spends its start importing FastAPI and friends, and waiting for one before spawning the
        # next would add their start-up times up instead of sharing the cores between them.
        names = list(self.config.service_ports)
        progress(f"Starting the {', '.join(names)} services")
        starting = [asyncio.ensure_future(self._start_service(name)) for name in names]
        try:
            await asyncio.gather(*starting)
        except BaseException:
            # The first failure is the one reported; the others' waits end here rather than on processes being stopped.
            for task in starting:
                task.cancel()
            await asyncio.gather(*starting, return_exceptions=True)
            raise

    def stop(self) -> None:
        """Worker first (it finishes in-flight activities), then the services (together: none depends on another),
        then Temporal."""
        services = [child for child in self.children if child.name in self.config.service_ports]
        for child in reversed(self.children):
            if child.name in self.config.service_ports:
                stop_together(services)  # the first service reached stops them all; for the others it is a no-op
            else:
                child.stop()
        self.children.clear()

    async def __aenter__(self) -> EmbeddedStack:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop()

    def exited_child(self) -> ChildProcess | None:
        """A child that died on its own, if any (the supervisor then shuts everything down)."""
        return next((child for child in self.children if child.exit_code() is not None), None)

    def child(self, name: str) -> ChildProcess:
        return next(child for child in self.children if child.name == name)

    # ---- the children ---------------------------------------------------------------------------------------------

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str] | None = None,
        *,
        position: int | None = None,
        stop_timeout: float = ChildProcess.stop_timeout,
    ) -> ChildProcess:
        log_path = self._logs / f"{name}.log"
        child = ChildProcess(name=name, argv=argv, log_path=log_path, env=env or {}, stop_timeout=stop_timeout)
        child.start()
        # `children` is in start order, which `stop` reverses: a restarted Temporal goes back to the front.
        self.children.insert(len(self.children) if position is None else position, child)
        return child

    def temporal_argv(self) -> list[str]:
        config = self.config
        argv = [
            str(self.temporal_binary),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(config.temporal_port),
        ]
        argv += ["--log-level", "warn", "--namespace", NAMESPACE]
        if config.ui_port is None:
            argv.append("--headless")
        else:
            argv += ["--ui-port", str(self.ui_upstream_port)]
            if config.codec_url is not None:
                argv += ["--ui-codec-endpoint", config.codec_url]
        if config.persistent_history:
            argv += ["--db-filename", str(config.state_dir / "temporal.db")]
            for pragma in config.sqlite_pragmas:
                argv += ["--sqlite-pragma", pragma]
        for setting in config.dynamic_config:
            argv += ["--dynamic-config-value", setting]
        return argv + dev_server_flags()

    async def restart_temporal(self) -> None:
        """Stop the dev server and start it again on the same port and history file (chaos runs)."""
        old = self.child("temporal")
        position = self.children.index(old)
        # In a thread: the server may take its whole stop timeout to go, and the caller's clients (a chaos run's
        # reviewer and pollers) must keep running meanwhile, seeing the server away as real clients would.
        await asyncio.to_thread(old.stop)
        self.children.remove(old)
        await self._start_temporal(position=position)

    async def _start_temporal(self, position: int | None = None) -> None:
        child = self._spawn("temporal", self.temporal_argv(), position=position)

        async def serving() -> bool:
            if not port_in_use(self.config.temporal_port):
                return False
            try:
                client = await Client.connect(self.config.temporal_address)
                return await client.service_client.check_health()
            except Exception:  # noqa: BLE001 - still starting: whatever connecting raises means "not yet"
                return False

        await child.wait_until(serving, timeout=60)

    async def _start_web_ui_guard(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "cadenza.web_ui_guard",
            "--port",
            str(self.config.ui_port),
            "--upstream-port",
            str(self.ui_upstream_port),
        ]
        child = self._spawn("web-ui-guard", argv)

        async def listening() -> bool:
            return port_in_use(self.config.ui_port)  # type: ignore[arg-type]

        await child.wait_until(listening, timeout=30)

    async def _start_service(self, name: str) -> None:
        port = self.config.service_ports[name]
        argv = [sys.executable, "-m", "services", name, "--port", str(port)]
        argv += ["--db", str(self.config.state_dir / f"{name}.db"), "--token", self.config.token]
        if name in self.config.service_faults:
            argv += ["--faults", self.config.service_faults[name]]
        child = self._spawn(name, argv)
        await child.wait_until(http_ok(f"{self.config.service_url(name)}/health"), timeout=30)

    async def _start_worker(self, name: str = "worker") -> ChildProcess:
        env = self.config.worker_env(name)
        # A stopping worker drains its in-flight activities first: SIGKILL only once that has clearly overrun.
        child = self._spawn(name, [sys.executable, "-m", "workers"], env=env, stop_timeout=WORKER_STOP_TIMEOUT_SECONDS)
        await child.wait_until(self._worker_polling(child), timeout=30)
        return child

    async def _start_api(self) -> None:
        # The API's development keys live with the stack's state (`cadenza api-key create` writes them there).
        env = {**self.config.client_env(), "CADENZA_STATE_DIR": str(self.config.state_dir)}
        argv = [sys.executable, "-m", "api", "--port", str(self.config.api_port)]
        child = self._spawn("api", argv, env=env)
        await child.wait_until(http_ok(f"{self.config.api_url}/healthz"), timeout=30)

    async def _start_codec_server(self) -> None:
        # Same environment as the worker, so the codec server holds the same keys; only this stack's Web UI may call it.
        env = {**self.config.client_env(), "CADENZA_STATE_DIR": str(self.config.state_dir)}
        if self.config.ui_port is not None:
            env["CADENZA_CODEC_CORS_ORIGINS"] = (
                f"http://localhost:{self.config.ui_port},http://127.0.0.1:{self.config.ui_port}"
            )
        argv = [sys.executable, "-m", "codec_server", "--port", str(self.config.codec_port)]
        child = self._spawn("codec-server", argv, env=env)
        await child.wait_until(http_ok(f"http://127.0.0.1:{self.config.codec_port}/healthz"), timeout=30)

    async def add_worker(self, name: str) -> ChildProcess:
        """One more worker process on the same task queue (scaling out, crash tests)."""
        return await self._start_worker(name)

    @staticmethod
    def _worker_polling(child: ChildProcess):
        async def polling() -> bool:
            return "polling task queue" in child.log_tail(50)

        return polling
