"""The chaos run, scaled down: faults on every service (slow commits included), a short outage, workers SIGKILLed
mid-load and during compensation, the dev server restarted during compensation, an order cancelled twice while
compensating — every order still closes and the audit finds nothing."""

from __future__ import annotations

import pytest

from starters.chaos import ChaosPlan, Outage, run_chaos

pytestmark = pytest.mark.integration


async def test_chaos_every_order_closes_and_the_audit_is_clean(tmp_path):
    plan = ChaosPlan(
        orders=50,
        concurrency=15,
        faults={
            # 6 s: past the worker's 5 s HTTP timeout, so a slow-committed request lands after its caller gave up.
            "payment": {"error_rate": 0.3, "stall_rate": 0.05, "slow_commit_rate": 0.05, "slow_commit_ms": 6000},
            "inventory": {"error_rate": 0.2, "slow_commit_rate": 0.05, "slow_commit_ms": 6000},
            "erp": {"rate_limit": 0.1, "retry_after_s": 0.2, "slow_commit_rate": 0.05, "slow_commit_ms": 6000},
        },
        workers=2,
        kill_every_s=5,
        restart_server=True,
        seed=3,
        # Scaled down: shorter than the step deadline (the full run's is longer), but refunds fail while it lasts.
        outage=Outage("payment", 3),
        outage_after=0.2,
        cancel_every=1_000,  # the first order seen compensating, only
    )
    events: list[str] = []
    report = await run_chaos(plan, tmp_path, log=events.append)

    done = report.disruptions
    cancelled = done.cancelled_mid_compensation
    assert report.load.errors == []
    assert report.load.outcomes["compensated"] > 0  # the seeded mix includes declines and out-of-stock lines
    assert done.worker_kills >= 1 and done.server_restarts == 1
    assert report.service_stats["payment"]["errors_injected"] > 0
    # ~150 writes at 5 %: some are slow-committed (the chance of none is about 1 in 2000).
    assert sum(stats["slow_commits_injected"] for stats in report.service_stats.values()) > 0
    assert done.failed == 0 and done.outages == 1
    assert done.orders_seen_compensating > 0
    assert done.kills_during_compensation >= 1 and done.restarts_during_compensation == 1
    assert len(cancelled) == 1
    assert report.events == [line for line in events if " closed: " in line]  # every event printed as it happened
    assert report.audit is not None and report.audit.orders == 50
    # The order cancelled mid-compensation too: its compensations finish first, and it closes with nothing live.
    assert report.audit.problems == []
    assert report.load.outcomes["completed"] + report.load.outcomes["compensated"] == 50, report.load.outcomes
