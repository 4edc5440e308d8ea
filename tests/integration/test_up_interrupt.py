"""Ctrl-C while `cadenza up` is still starting: it stops at once and takes down what had already started, instead of
finishing the start-up first (a dev server, three services and a worker: many seconds on a busy machine)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cadenza.processes import port_in_use
from tests.integration.test_cli import CADENZA, REPO, _stack_env, _stack_ports

pytestmark = pytest.mark.integration


def test_ctrl_c_during_start_up_stops_promptly_and_leaves_nothing_running(tmp_path: Path) -> None:
    env = _stack_env(tmp_path)
    up = subprocess.Popen(
        [*CADENZA, "up"],
        env={**os.environ, "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    # The dev server listening means start-up is under way and has a long way to go: Temporal's health check, then
    # the services and a worker.
    temporal_port = int(env["CADENZA_TEMPORAL_PORT"])
    deadline = time.monotonic() + 90
    while not port_in_use(temporal_port) and up.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not port_in_use(temporal_port):
        up.kill()
        said, _ = up.communicate(timeout=30)
        raise AssertionError(f"the dev server never came up (cadenza up exited {up.returncode}):\n{said}")

    up.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    output, _ = up.communicate(timeout=120)
    took = time.monotonic() - interrupted_at

    assert "Ready." not in output, output  # before the fix: the whole start-up ran, then it stopped
    assert up.returncode == 130, output
    assert "Interrupted" in output
    # Stopping the dev server (and at most one service) takes a second or two; a start-up run to its end far longer.
    assert took < 15, f"took {took:.1f} s to stop after Ctrl-C"
    # Checked the moment the supervisor is gone: it stopped its children itself rather than leaving them to the
    # parent-death signal, which would still be shutting them down now.
    assert not any(port_in_use(port) for port in _stack_ports(env)), output
    assert not (Path(env["CADENZA_STATE_DIR"]) / "logs" / "worker.log").exists(), "the worker was started anyway"
