"""The worker's probes without a server: a stalled event loop fails liveness, no worker yet is alive but not ready,
and the port settings come from CADENZA_METRICS_PORT (the integration test covers a real worker)."""

from __future__ import annotations

import time

import pytest

from workers import health as health_module
from workers.health import LOOP_STALL, WorkerHealth, health_settings


def test_a_stalled_event_loop_is_not_alive():
    health = WorkerHealth()
    assert health.liveness() == (True, {"status": "alive"})
    health._last_tick = time.monotonic() - LOOP_STALL - 2  # the ticker has not run: the loop was blocked
    alive, body = health.liveness()
    assert not alive and body["reason"].startswith("event loop stalled for 1")


async def test_before_a_worker_is_watched_it_is_not_ready():
    assert await WorkerHealth().readiness() == (False, {"reason": "worker is not running"})


@pytest.mark.parametrize(("value", "port"), [("", None), ("0", None), ("9464", 9464)])
def test_port_settings(monkeypatch, value, port):
    monkeypatch.setenv(health_module.PORT_ENV, value)
    health_settings.cache_clear()
    try:
        settings = health_settings()
        assert (settings.port if settings else None) == port
        if settings:  # core's exporter on loopback, never beside the public port
            assert settings.core_address.startswith("127.0.0.1:") and settings.core_port != port
    finally:
        health_settings.cache_clear()


@pytest.mark.parametrize(("value", "host"), [(None, "127.0.0.1"), ("", "127.0.0.1"), ("10.1.2.3", "10.1.2.3")])
def test_the_port_listens_on_loopback_unless_told_otherwise(monkeypatch, value, host):
    """/metrics, /healthz and /readyz answer whoever reaches them: beyond this machine only when configured (Kubernetes
    sets CADENZA_METRICS_HOST to the pod's IP for its probes; tests/deploy checks)."""
    monkeypatch.setenv(health_module.PORT_ENV, "9464")
    if value is None:
        monkeypatch.delenv(health_module.HOST_ENV, raising=False)
    else:
        monkeypatch.setenv(health_module.HOST_ENV, value)
    health_settings.cache_clear()
    try:
        assert health_settings().host == host
    finally:
        health_settings.cache_clear()
