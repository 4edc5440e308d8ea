"""Supervised children: readiness is judged on what this run logged, never on an earlier run's lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cadenza import processes
from cadenza.process_exit import SPAN_FLUSH_TIMEOUT_SECONDS
from cadenza.processes import ChildProcess, ProcessFailed
from cadenza.settings import METRICS_PORT_ENV, SERVICE_NAMES
from cadenza.shutdown import WORKER_GRACEFUL_SHUTDOWN
from cadenza.stack import EmbeddedStack, StackConfig

REPO = Path(__file__).resolve().parents[2]

STALE = '{"level": "info", "logger": "cadenza.worker", "message": "worker polling task queue \'cadenza-orders\'"}\n'


def python_child(log_path: Path, code: str) -> ChildProcess:
    return ChildProcess(name="worker", argv=[sys.executable, "-c", code], log_path=log_path)


async def test_a_stale_ready_line_from_an_earlier_run_does_not_pass_readiness(tmp_path: Path) -> None:
    log_path = tmp_path / "worker.log"
    log_path.write_text("earlier run\n" + STALE)
    # This run never becomes ready (think: it hangs connecting to Temporal).
    child = python_child(log_path, "import time; print('connecting', flush=True); time.sleep(30)")
    child.start()
    try:
        with pytest.raises(ProcessFailed, match="not ready after") as failure:
            await child.wait_until(EmbeddedStack._worker_polling(child), timeout=1.5)
    finally:
        child.kill()

    # The failure shows this run's lines, not the earlier run's; the earlier run's log is kept for whoever needs it.
    assert "connecting" in str(failure.value)
    assert "earlier run" not in str(failure.value)
    assert log_path.read_text().startswith("earlier run\n" + STALE)


async def test_this_runs_ready_line_passes_readiness(tmp_path: Path) -> None:
    log_path = tmp_path / "worker.log"
    log_path.write_text("earlier run\n")
    child = python_child(
        log_path, f"import time; time.sleep(0.3); print({STALE.strip()!r}, flush=True); time.sleep(30)"
    )
    child.start()
    try:
        await child.wait_until(EmbeddedStack._worker_polling(child), timeout=20)
    finally:
        child.kill()
    assert child.log_tail() == STALE.strip()


# A child that, like the worker, drains for a while after SIGTERM before it exits on its own.
DRAINS_FOR_ONE_SECOND = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(1), sys.exit(0)))\n"
    "print('up', flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.mark.parametrize(("stop_timeout", "exit_code"), [(10.0, 0), (0.3, -9)])
async def test_stop_waits_the_childs_own_stop_timeout_then_kills(
    tmp_path: Path, stop_timeout: float, exit_code: int
) -> None:
    argv = [sys.executable, "-c", DRAINS_FOR_ONE_SECOND]
    child = ChildProcess(name="drainer", argv=argv, log_path=tmp_path / "drainer.log", stop_timeout=stop_timeout)
    child.start()
    await child.wait_until(lambda: _said_up(child), timeout=20)
    child.stop()
    assert child.exit_code() == exit_code


async def _said_up(child: ChildProcess) -> bool:
    return "up" in child.log_tail()


async def test_the_supervisor_gives_a_worker_more_time_than_it_drains_and_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ready_at_once(*_: object, **__: object) -> None:
        return None

    # The supervisor's own bookkeeping, without starting real processes.
    monkeypatch.setattr(ChildProcess, "start", lambda self: None)
    monkeypatch.setattr(ChildProcess, "wait_until", ready_at_once)
    ports = dict.fromkeys(SERVICE_NAMES, 2)
    stack = EmbeddedStack(StackConfig(state_dir=tmp_path, temporal_port=1, ui_port=None, service_ports=ports))
    await stack._start_worker()
    await stack.add_worker("worker-2")

    # The worker stops in: graceful shutdown (in-flight activities finish), then the span flush on the way out. A
    # stop timeout of exactly that SIGKILLs a worker that drains in full; it needs a clear margin on top.
    worker_exits_within = WORKER_GRACEFUL_SHUTDOWN.total_seconds() + SPAN_FLUSH_TIMEOUT_SECONDS
    for name in ("worker", "worker-2"):
        assert stack.child(name).stop_timeout >= worker_exits_within + 3


@pytest.mark.parametrize(("configured", "first_worker_port"), [(None, "0"), (9464, "9464")])
def test_workers_serve_the_stacks_metrics_port_never_the_shells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: int | None, first_worker_port: str
) -> None:
    # Exported for a `cadenza up` next door: a child inherits it unless told otherwise, and two workers cannot share it.
    monkeypatch.setenv(METRICS_PORT_ENV, "9999")
    ports = dict.fromkeys(SERVICE_NAMES, 2)
    config = StackConfig(
        state_dir=tmp_path, temporal_port=1, ui_port=None, service_ports=ports, metrics_port=configured
    )

    assert config.worker_env("worker")[METRICS_PORT_ENV] == first_worker_port
    assert config.worker_env("worker-2")[METRICS_PORT_ENV] == "0"  # none: only the first worker has the port


def test_processes_sharing_the_free_ports_pick_from_slices_that_never_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    full = processes._FULL_PORT_RANGE
    picked: list[set[int]] = []
    for index in range(3):
        monkeypatch.setattr(processes, "_FREE_PORT_RANGE", full)
        monkeypatch.setattr(processes, "_handed_out", set())
        monkeypatch.delenv(processes.FREE_PORT_SLICE_ENV, raising=False)
        processes.share_free_ports(index, 3)
        low, high = processes._FREE_PORT_RANGE
        ports = {processes.free_port() for _ in range(50)}
        assert full[0] <= low < high <= full[1] and high - low < (full[1] - full[0]) // 3
        assert all(low <= port <= high for port in ports)
        picked.append(ports)
    assert not (picked[0] & picked[1]) and not (picked[1] & picked[2]) and not (picked[0] & picked[2])


def test_the_children_of_a_process_sharing_the_free_ports_pick_from_its_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    def child_picks() -> tuple[list[int], list[int]]:
        code = (
            "import json; from cadenza import processes; "
            "print(json.dumps([processes._FREE_PORT_RANGE, [processes.free_port() for _ in range(20)]]))"
        )
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
        port_range, ports = json.loads(child.stdout)
        return port_range, ports

    monkeypatch.setattr(processes, "_FREE_PORT_RANGE", processes._FULL_PORT_RANGE)
    monkeypatch.delenv(processes.FREE_PORT_SLICE_ENV, raising=False)
    processes.share_free_ports(2, 3)
    (low, high), ports = child_picks()

    assert (low, high) == processes._FREE_PORT_RANGE != processes._FULL_PORT_RANGE
    assert all(low <= port <= high for port in ports)
    # Without the slice in its environment a child picks from the whole range.
    monkeypatch.delenv(processes.FREE_PORT_SLICE_ENV)
    assert tuple(child_picks()[0]) == processes._FULL_PORT_RANGE
