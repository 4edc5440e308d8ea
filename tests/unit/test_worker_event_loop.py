"""The worker process's event loop (workers.worker.event_loop_factory): uvloop, with the same SIGTERM handling."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from cadenza.signals import run_until_signalled
from workers.worker import event_loop_factory

uvloop = pytest.importorskip("uvloop", reason="uvloop is not available on this platform")


def test_the_worker_runs_on_uvloop_and_still_stops_cleanly_on_sigterm():
    async def main(stop: asyncio.Event) -> type:
        os.kill(os.getpid(), signal.SIGTERM)  # what Kubernetes or `cadenza up` sends to stop a worker
        await asyncio.wait_for(stop.wait(), timeout=5)
        return type(asyncio.get_running_loop())

    assert run_until_signalled(main, loop_factory=event_loop_factory()) is uvloop.Loop
