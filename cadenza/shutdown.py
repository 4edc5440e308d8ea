"""How long a worker takes to stop, in one place: the worker drains with it, its supervisor waits for it.

After SIGTERM a worker lets in-flight activities finish (graceful shutdown), closes its clients, then sends its last
spans on the way out (cadenza.process_exit). A supervisor that SIGKILLs sooner cuts a draining worker off mid-drain,
which is exactly what the graceful shutdown is there to prevent; so its patience is derived from the same numbers.
"""

from __future__ import annotations

from datetime import timedelta

from cadenza.process_exit import SPAN_FLUSH_TIMEOUT_SECONDS

WORKER_GRACEFUL_SHUTDOWN = timedelta(seconds=10)
"""In-flight activities get this long after SIGTERM; an HTTP call is bounded by its 5 s timeout, so this is enough."""

# Cancelling activities that overran, closing the Temporal and HTTP clients, the interpreter and the OS: seconds, but
# on a busy 2-core machine not a handful of milliseconds.
_EXIT_MARGIN_SECONDS = 5.0

WORKER_STOP_TIMEOUT_SECONDS = (
    WORKER_GRACEFUL_SHUTDOWN.total_seconds() + SPAN_FLUSH_TIMEOUT_SECONDS + _EXIT_MARGIN_SECONDS
)
"""How long a supervisor waits after SIGTERM before it SIGKILLs a worker (20 s). Deployments need a termination
grace period at least this long (docker-compose's `stop_grace_period`, a pod's `terminationGracePeriodSeconds`)."""
