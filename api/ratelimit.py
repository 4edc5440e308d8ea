"""Per-API-key rate limit: a token bucket per key, in this process.

Each key's bucket holds up to `burst` requests and refills at `rate` per second, so a client may send a burst and
then keeps its steady rate. The buckets live in the API process's memory: with N replicas behind a load balancer a key
gets up to N times the limit in total. That is deliberate — no shared store (Redis) on every request's path — and is
enough for what the limit is for: keeping one runaway client from starving the others on a replica. Set the limit
per replica accordingly.

`CADENZA_API_RATE_LIMIT`: `50/s` (the default), `3000/min`, or `off`. `CADENZA_API_RATE_BURST`: the bucket size
(default: two seconds' worth of the rate, at least 1).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_RATE_LIMIT = "50/s"
_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*$")


class InvalidRateLimit(ValueError):
    """A rate-limit setting that cannot be read; the message names the variable and a valid example."""


@dataclass(frozen=True)
class RateLimit:
    rate: float
    """Requests per second a key may sustain."""
    burst: int
    """Requests a key may send at once after a quiet spell."""
    text: str = ""
    """As the operator wrote it, for messages."""

    @classmethod
    def parse(cls, spec: str, burst: str | None = None) -> RateLimit | None:
        """`"50/s"` → 50 per second, burst 100; `"off"` → None (no limit)."""
        if spec.strip().lower() in ("off", "none", "0"):
            return None
        match = _SPEC.match(spec.lower())
        if not match or match[2] not in _UNITS or float(match[1]) <= 0:
            raise InvalidRateLimit(
                f"CADENZA_API_RATE_LIMIT={spec!r}: write requests per unit, e.g. 50/s or 3000/min, or 'off'"
            )
        rate = float(match[1]) / _UNITS[match[2]]
        size = max(1, math.ceil(2 * rate)) if burst is None else _whole(burst)
        return cls(rate=rate, burst=size, text=spec.strip())

    @classmethod
    def from_environment(cls) -> RateLimit | None:
        spec = os.environ.get("CADENZA_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT
        return cls.parse(spec, os.environ.get("CADENZA_API_RATE_BURST") or None)

    def __str__(self) -> str:
        return f"{self.text or f'{self.rate:g}/s'} (burst {self.burst})"


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidRateLimit(f"CADENZA_API_RATE_BURST={text!r}: write a whole number of requests, 1 or more")
    return value


class RateLimiter:
    """Token buckets by key id. Called from the event loop only (the auth dependency is async), so no lock.

    Only authenticated keys get a bucket, so memory is bounded by the number of keys, not by what clients send.
    """

    def __init__(self, limit: RateLimit | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id → (tokens, when counted)

    @classmethod
    def from_environment(cls) -> RateLimiter:
        return cls(RateLimit.from_environment())

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 if allowed, else the seconds until one would be."""
        if self.limit is None:
            return 0.0
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - then) * self.limit.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.limit.rate
