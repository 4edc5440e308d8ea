"""The fault configuration format: how a simulated service is told to misbehave (`PUT /admin/faults`,
`--faults payment:error_rate=0.3`).

In the kernel because two sides speak it and neither may import the other: the services apply it
(services/common/faults.py rolls the dice, services/common/fault_middleware.py acts), the CLI checks a `--faults`
spec against it before a run starts and sends it (starters/faultspec.py, starters/faults.py). The kinds:

* ``error`` — 503 before anything happens (safe to retry);
* ``rate_limit`` — 429 with ``Retry-After`` before anything happens;
* ``stall`` — the request is applied and committed, then the answer is held
  back for longer than the caller waits. The caller sees a timeout although
  the effect happened: only an idempotent retry avoids doing it twice.
* ``slow_commit`` — the request is received in full, then waits before it is
  applied (a queue at the provider, a slow network path), then commits. A
  caller that gave up meanwhile — and perhaps compensated "nothing" — sees the
  effect appear *after* it moved on: the late commit a saga must fence.
* ``refuse`` — scripted only: 409 ``refused`` before anything happens, a final answer the caller does not retry.
  Aimed at a compensation (`match` its idempotency key, e.g. ``refund_payment``) it puts the order in
  ``needs_attention`` within seconds, where real services would need 30 minutes of failing retries; it keeps refusing
  until the script is cleared (``cadenza faults clear``), then ``retry-compensation`` heals the order.

Besides faults, ``idempotency`` switches the service's key handling to one of the ways real libraries get it wrong
(off by default; only `PUT /admin/faults` or `--faults` turn it on, so `cadenza verify` can be shown to catch each):

* ``ignore_keys`` — every request runs, keyed or not;
* ``replay_successes_only`` — refusals (4xx) are not stored: a retry of a refused request runs again;
* ``concurrent_duplicates`` — the stored answers are checked, then the effect runs a moment later, outside the lock:
  two requests with one key that arrive together both run;
* ``reuse_executes`` — the body is part of the key: the same key with another body runs as a new request;
* ``key_ignores_path`` — a key is bound to the method and body only: the same key and body on another path (another
  charge's refund) replays the first path's answer, and the second request never runs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cadenza.json_numbers import WholeNumber

# Long enough for any test scenario, short enough that asyncio.sleep() never overflows.
_MAX_DELAY_MS = 3_600_000


class FaultKind(StrEnum):
    """The faults a request can be answered with."""

    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    STALL = "stall"
    SLOW_COMMIT = "slow_commit"
    REFUSE = "refuse"


IdempotencyMisbehaviour = Literal[
    "ignore_keys", "replay_successes_only", "concurrent_duplicates", "reuse_executes", "key_ignores_path"
]
"""The broken key handlings a simulated service can be switched to (module docstring)."""


class ScriptedFault(BaseModel):
    """A deterministic fault for the next ``times`` POST requests that match.

    A request matches when its ``Idempotency-Key`` header or its URL path
    contains ``match`` (every POST matches when ``match`` is null).
    """

    # Strict: a script only ever arrives as JSON or from typed code, and "2" is not the integer its schema promises.
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["error", "rate_limit", "stall", "slow_commit", "refuse"]
    times: WholeNumber = Field(default=1, ge=1, le=1_000_000)
    match: str | None = Field(default=None, min_length=1, max_length=255)


class FaultConfig(BaseModel):
    """How a service misbehaves; ``FaultConfig()`` is a perfectly healthy service."""

    model_config = ConfigDict(extra="forbid")

    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Chance a POST answers 503")
    latency_ms: WholeNumber = Field(default=0, ge=0, le=_MAX_DELAY_MS, description="Delay added to every request")
    rate_limit: float = Field(default=0.0, ge=0.0, le=1.0, description="Chance a POST answers 429")
    retry_after_s: float = Field(default=1.0, ge=0.0, le=3600.0, description="Retry-After sent with a 429")
    stall_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Chance a POST is applied, then its answer held")
    stall_ms: WholeNumber = Field(
        default=15_000, ge=0, le=_MAX_DELAY_MS, description="How long a stalled answer is held"
    )
    slow_commit_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Chance a POST waits `slow_commit_ms` before it is applied"
    )
    # Longer than the worker's 5 s HTTP timeout, shorter than a step's retries: the caller has given up and retried
    # (or compensated) by the time the first request commits.
    slow_commit_ms: WholeNumber = Field(
        default=8_000,
        ge=0,
        le=_MAX_DELAY_MS,
        description="How long a slow-committed request waits before it is applied",
    )
    seed: WholeNumber | None = Field(default=None, description="Seed for the random faults, for reproducible runs")
    script: list[ScriptedFault] = Field(default_factory=list, max_length=1000)
    idempotency: IdempotencyMisbehaviour | None = Field(
        default=None, description="Break the key handling on purpose (for `cadenza verify`'s own tests); null: correct"
    )
