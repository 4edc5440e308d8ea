"""The chaos run, scaled down: faults on every service, workers SIGKILLed mid-load, the dev server restarted on
its SQLite history — every order still closes and the audit finds nothing."""

from __future__ import annotations

import pytest

from starters.chaos import ChaosPlan, run_chaos

pytestmark = pytest.mark.integration


async def test_chaos_every_order_closes_and_the_audit_is_clean(tmp_path):
    plan = ChaosPlan(
        orders=50,
        concurrency=15,
        faults={"payment": {"error_rate": 0.3, "stall_rate": 0.05}, "inventory": {"error_rate": 0.2},
                "erp": {"rate_limit": 0.1, "retry_after_s": 0.2}},
        workers=2,
        kill_every_s=5,
        restart_server=True,
        seed=3,
    )
    report = await run_chaos(plan, tmp_path, log=lambda _: None)
    assert report.load.errors == []
    assert report.load.outcomes["completed"] + report.load.outcomes["compensated"] == 50
    assert report.load.outcomes["compensated"] > 0  # the seeded mix includes declines and out-of-stock lines
    assert report.worker_kills >= 1 and report.server_restarts == 1
    assert report.service_stats["payment"]["errors_injected"] > 0
    assert report.audit is not None and report.audit.orders == 50
    assert report.audit.problems == []
