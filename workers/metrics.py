"""Cadenza's own metrics on the worker side, next to the SDK's (`temporal_activity_execution_latency`, …).

Emitted through the SDK's meters, so they reach the same Prometheus endpoint (cadenza.telemetry.metrics_runtime)
and, inside workflows, are suppressed during replay.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.attempts import count_attempt, outcome_of


class ActivityAttempts(Interceptor):
    """Counts every activity attempt by activity and outcome (`ok`, or the error type): retries become visible
    per step, e.g. `cadenza_activity_attempts{activity="charge_payment",outcome="ServiceUnavailable"}`."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingInbound(next)


class _CountingInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        name = activity.info().activity_type
        try:
            result = await super().execute_activity(input)
        except BaseException as err:
            count_attempt(name, outcome_of(err))
            raise
        count_attempt(name, outcome_of(None))
        return result
