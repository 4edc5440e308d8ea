"""Tracing and metrics, configured the standard way, in one place for every Cadenza process.

Traces: one trace per order, from `cadenza order place` through the workflow, every activity attempt, every HTTP
call and the service that answered it (W3C `traceparent` over HTTP). The exporter follows the standard OTEL_*
variables: OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set or
`OTEL_TRACES_EXPORTER=otlp`; spans on stdout with `OTEL_TRACES_EXPORTER=console`; otherwise none (context still
propagates, so a downstream that does export stays linked).

A worker process that exports nothing makes no spans of its own either (`spans_recorded`): it still carries the
trace context it was handed, from the workflow's start through every activity to each HTTP call's `traceparent`, but
building spans only to drop them is a cost every order pays for nothing (docs/performance.md). Clients always make
their `StartWorkflow` span: it is where an order's trace begins, so the services' spans stay one trace per order even
when the worker between them exports nothing.

Metrics: the Temporal SDK's own metrics plus Cadenza's (orders by outcome, compensations, per-step latency and
attempts, emitted through the SDK's replay-safe meters) on one Prometheus endpoint per worker process, when
`CADENZA_METRICS_PORT` is set (`cadenza up` sets 9464 for its worker); workers.health serves it there as `/metrics`
beside `/healthz` and `/readyz`.
"""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.contrib.opentelemetry import OpenTelemetryPlugin, ReplaySafeTracerProvider, create_tracer_provider
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

_configured: ReplaySafeTracerProvider | None = None
_recording = False
"""Whether spans of this process go anywhere: an exporter from the environment, or a processor a caller added."""


def _exporter_from_env() -> SpanExporter | None:
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint_set = any(os.environ.get(v) for v in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp" or (endpoint_set and choice in ("", "otlp")):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # reads the endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*
    return None


def setup_tracing(service_name: str, *, processor: SpanProcessor | None = None) -> ReplaySafeTracerProvider:
    """Install the process-wide tracer provider once (replay-safe, as the Temporal plugin requires).

    `processor` adds a span processor of the caller's (tests use an in-memory exporter)."""
    global _configured, _recording
    if _configured is None:
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
        provider = create_tracer_provider(resource=resource)
        exporter = _exporter_from_env()
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
            _recording = True
        trace.set_tracer_provider(provider)
        _configured = provider
    if processor is not None:
        _configured.add_span_processor(processor)
        _recording = True
    return _configured


def spans_recorded() -> bool:
    """True once this process's spans go somewhere (`setup_tracing` found an exporter, or was given a processor).
    Without, a span is built, timed and dropped: work that only its context, which propagation carries anyway,
    outlives."""
    return _recording


def temporal_plugins(*, worker: bool = False) -> list[OpenTelemetryPlugin]:
    """The tracing plugin for every Temporal client, worker and replayer: it carries the trace context through
    workflow and activity headers in all of them.

    Temporal's own spans (start workflow, run workflow, start/run activity) make the trace read like the process.
    A client always makes them (its `StartWorkflow` span starts the order's trace); a `worker` process's client (its
    workers inherit its plugins) only when the spans go somewhere (`spans_recorded`). Whether a history was written
    with or without them does not matter to replay: spans add no commands, only header values, and Cadenza's
    workflows draw no randomness the span ids could shift."""
    return [OpenTelemetryPlugin(add_temporal_spans=spans_recorded() or not worker)]


def metrics_runtime(bind_address: str) -> Runtime:
    """A Temporal runtime whose core serves Prometheus metrics at `bind_address` (`host:port`).

    A worker binds it to a loopback port and serves it on `CADENZA_METRICS_PORT` next to its health checks
    (workers.health): core's exporter answers every path with metrics and cannot serve anything else."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=bind_address, histogram_bucket_overrides=HISTOGRAM_BUCKETS)
        )
    )


_SECOND, _HOUR = 1_000, 3_600_000
HISTOGRAM_BUCKETS: dict[str, list[float]] = {
    # A review waits minutes to days (its deadline is 24 h by default, `CADENZA_REVIEW_DEADLINE` up to days): the
    # Core's default buckets stop at 10 s, where every decision would land in +Inf. In milliseconds, as recorded.
    "cadenza_review_decision_time": [float(s * _SECOND) for s in (1, 10, 60, 5 * 60, 15 * 60, 30 * 60)]
    + [float(h * _HOUR) for h in (1, 2, 4, 8, 12, 24, 48, 72, 7 * 24)],
}
"""Bucket bounds of the workflows' histograms whose values the Core's defaults do not cover (workflows/metrics.py)."""


def core_logs_forwarded() -> Runtime:
    """A Temporal runtime whose Core logs (its WARNs, e.g. "Query not found" while a worker in this process starts)
    go to Python's logger `temporalio.core` instead of straight to the console, so that wherever this process's logs
    go (cadenza.logs.logging_to_file), the Core's go too."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(
                filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
            )
        )
    )
