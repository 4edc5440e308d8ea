"""Per-process counters exposed at ``GET /admin/stats``."""

from __future__ import annotations

from pydantic import BaseModel


class ServiceStats(BaseModel):
    """What a service has seen and done to its callers since it started.

    Mutable on purpose: the fault middleware and the mutation runner bump the
    counters in place, and the admin route returns the model as is.
    """

    requests: int = 0
    """Non-admin requests received (including ones answered by an injected fault)."""
    errors_injected: int = 0
    rate_limits_injected: int = 0
    stalls_injected: int = 0
    slow_commits_injected: int = 0
    """Requests held before being applied (they still commit, late)."""
    idempotent_replays: int = 0
    fences: int = 0
    """Keys fenced by a compensation (repeats of a fence not counted)."""
    fenced_requests: int = 0
    """Requests refused with 409 ``request_fenced``: late deliveries, retries or resets of a compensated step."""
