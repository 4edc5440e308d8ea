"""The review decision time histogram covers days: a decision after 24 h lands in a bucket of its own, not in +Inf
(the Core's default buckets stop at 10 s)."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx

from cadenza.processes import free_port
from cadenza.telemetry import metrics_runtime


def test_a_review_decided_after_a_day_lands_below_inf():
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(address)
    histogram = runtime.metric_meter.create_histogram_timedelta(
        "cadenza_review_decision_time", "Time an order waited in manual review for its decision", unit="ms"
    )
    histogram.record(timedelta(hours=23), {"outcome": "approved"})
    text = httpx.get(f"http://{address}/metrics").text
    buckets = {
        float(le): int(count)
        for le, count in re.findall(r'cadenza_review_decision_time_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)', text)
        if le != "+Inf"
    }
    assert max(buckets) >= timedelta(days=2) / timedelta(milliseconds=1), text
    assert buckets[timedelta(hours=24) / timedelta(milliseconds=1)] == 1  # 23 h: within the 24 h bucket
    assert buckets[timedelta(hours=12) / timedelta(milliseconds=1)] == 0
