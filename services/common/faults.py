"""Fault configuration and the decisions it produces for each request.

Faults make a simulated service fail the way real ones do, so the saga's
retries, timeouts and compensations get exercised:

* ``error`` — 503 before anything happens (safe to retry);
* ``rate_limit`` — 429 with ``Retry-After`` before anything happens;
* ``stall`` — the request is applied and committed, then the answer is held
  back for longer than the caller waits. The caller sees a timeout although
  the effect happened: only an idempotent retry avoids doing it twice.
* ``slow_commit`` — the request is received in full, then waits before it is
  applied (a queue at the provider, a slow network path), then commits. A
  caller that gave up meanwhile — and perhaps compensated "nothing" — sees the
  effect appear *after* it moved on: the late commit a saga must fence.

Random faults hit POST requests only, so audits through GET stay reliable;
latency applies to every request. This module decides; the middleware in
:mod:`services.common.fault_middleware` acts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.common.fields import WholeNumber

# Long enough for any test scenario, short enough that asyncio.sleep() never overflows.
_MAX_DELAY_MS = 3_600_000


class FaultKind(StrEnum):
    """The faults a request can be answered with."""

    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    STALL = "stall"
    SLOW_COMMIT = "slow_commit"


class ScriptedFault(BaseModel):
    """A deterministic fault for the next ``times`` POST requests that match.

    A request matches when its ``Idempotency-Key`` header or its URL path
    contains ``match`` (every POST matches when ``match`` is null).
    """

    # Strict: a script only ever arrives as JSON or from typed code, and "2" is not the integer its schema promises.
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["error", "rate_limit", "stall", "slow_commit"]
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
        default=8_000, ge=0, le=_MAX_DELAY_MS, description="How long a slow-committed request waits before it is applied"
    )
    seed: WholeNumber | None = Field(default=None, description="Seed for the random faults, for reproducible runs")
    script: list[ScriptedFault] = Field(default_factory=list, max_length=1000)


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: delay it, and optionally inject one fault."""

    latency_s: float = 0.0
    fault: FaultKind | None = None


class FaultInjector:
    """Holds the live fault configuration and rolls the dice for each request.

    Not thread-safe; it is only used from the event loop.
    """

    def __init__(self, config: FaultConfig | None = None, default_seed: int | None = None) -> None:
        self._default_seed = default_seed
        self.replace(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        """The configuration in force; ``script`` shows only what is left to consume."""
        return self._config.model_copy(update={"script": [entry.model_copy() for entry in self._script]})

    def replace(self, config: FaultConfig) -> None:
        """Install a new configuration, restarting its script and random sequence."""
        self._config = config
        self._script = [entry.model_copy() for entry in config.script]
        self._random = random.Random(config.seed if config.seed is not None else self._default_seed)

    def decide(self, method: str, path: str, idempotency_key: str | None) -> FaultDecision:
        """Choose the treatment of one (non-admin) request."""
        latency_s = self._config.latency_ms / 1000
        if method != "POST":
            return FaultDecision(latency_s=latency_s)
        fault = self._take_scripted(path, idempotency_key) or self._roll_random()
        return FaultDecision(latency_s=latency_s, fault=fault)

    def _take_scripted(self, path: str, idempotency_key: str | None) -> FaultKind | None:
        for index, entry in enumerate(self._script):
            if entry.match is None or entry.match in path or entry.match in (idempotency_key or ""):
                entry.times -= 1
                if entry.times == 0:
                    del self._script[index]
                return FaultKind(entry.kind)
        return None

    def _roll_random(self) -> FaultKind | None:
        # One draw per kind, in a fixed order, so a seeded run replays exactly;
        # each rate is the chance of that fault given the earlier ones missed.
        chances = (
            (FaultKind.ERROR, self._config.error_rate),
            (FaultKind.RATE_LIMIT, self._config.rate_limit),
            (FaultKind.STALL, self._config.stall_rate),
            # Last, so runs seeded before this kind existed draw the same sequence (a zero rate draws nothing).
            (FaultKind.SLOW_COMMIT, self._config.slow_commit_rate),
        )
        for kind, chance in chances:
            if chance > 0 and self._random.random() < chance:
                return kind
        return None
