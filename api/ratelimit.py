"""Rate limits: a token bucket per API key, and one per client address for requests without a usable key, in this
process.

Each key's bucket holds up to `burst` requests and refills at `rate` per second, so a client may send a burst and
then keeps its steady rate. The buckets live in the API process's memory: with N replicas behind a load balancer a key
gets up to N times the limit in total. That is deliberate — no shared store (Redis) on every request's path — and is
enough for what the limit is for: keeping one runaway client from starving the others on a replica. Set the limit
per replica accordingly.

`CADENZA_API_RATE_LIMIT`: `50/s` (the default), `3000/min`, or `off`. `CADENZA_API_RATE_BURST`: the bucket size
(default: two seconds' worth of the rate, at least 1).

Requests with no key, an unknown or a revoked one are charged to their client address instead
(`CADENZA_API_ANONYMOUS_RATE_LIMIT`, default `5/s`; `CADENZA_API_ANONYMOUS_RATE_BURST`): refusing them costs little,
but nothing else stops one client from sending them without end. IPv6 addresses count per /64, what one host is
usually given. Behind a proxy the address is the proxy's unless uvicorn is told to trust its `X-Forwarded-For`
(`FORWARDED_ALLOW_IPS`, docs/security.md).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cadenza.errors import CadenzaError
from cadenza.settings import default_burst, parse_rate, settings

# Addresses are chosen by clients, so their buckets are bounded: beyond this many the least recently seen is dropped
# (an address that has been quiet for a second or two has a full bucket anyway).
MAX_ADDRESSES = 10_000


class InvalidRateLimit(CadenzaError, ValueError):
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
    def parse(
        cls, spec: str, burst: str | None = None, *, variable: str = "CADENZA_API_RATE_LIMIT"
    ) -> RateLimit | None:
        """`"50/s"` → 50 per second, burst 100; `"off"` → None (no limit). `variable` (and `<variable minus
        _LIMIT>_BURST`) name the settings in messages."""
        try:
            rate = parse_rate(spec)
        except ValueError:
            message = f"{variable}={spec!r}: write requests per unit, e.g. 50/s or 3000/min, or 'off'"
            raise InvalidRateLimit(message) from None
        if rate is None:
            return None
        size = default_burst(rate) if burst is None else _whole(burst, _burst_variable(variable))
        return cls(rate=rate, burst=size, text=spec.strip())

    @classmethod
    def from_environment(cls, variable: str = "CADENZA_API_RATE_LIMIT") -> RateLimit | None:
        """The limit `variable` and its burst set (cadenza.settings has validated both, and holds the defaults)."""
        current = settings()
        burst = current.get(_burst_variable(variable))
        return cls.parse(current.get(variable), None if burst is None else str(burst), variable=variable)

    def __str__(self) -> str:
        return f"{self.text or f'{self.rate:g}/s'} (burst {self.burst})"


def _burst_variable(variable: str) -> str:
    return variable.removesuffix("_LIMIT") + "_BURST"


def _whole(text: str, variable: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidRateLimit(f"{variable}={text!r}: write a whole number of requests, 1 or more")
    return value


class RateLimiter:
    """Token buckets by key (an API key's id, or a client address). Called from the event loop only (the auth
    dependency is async), so no lock. With `capacity`, at most that many buckets are kept (the least recently used
    go first): for keys that clients choose."""

    def __init__(
        self, limit: RateLimit | None, *, clock: Callable[[], float] = time.monotonic, capacity: int | None = None
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._capacity = capacity
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, when counted)

    @classmethod
    def from_environment(cls) -> RateLimiter:
        return cls(RateLimit.from_environment())

    @classmethod
    def for_addresses_from_environment(cls) -> RateLimiter:
        limit = RateLimit.from_environment("CADENZA_API_ANONYMOUS_RATE_LIMIT")
        return cls(limit, capacity=MAX_ADDRESSES)

    def acquire(self, key: str) -> float:
        """Take one request from `key`'s bucket: 0.0 if allowed, else the seconds until one would be."""
        if self.limit is None:
            return 0.0
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(self.limit.burst), now))
        tokens = min(float(self.limit.burst), tokens + (now - then) * self.limit.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if self._capacity is not None:
            self._buckets.move_to_end(key)
            while len(self._buckets) > self._capacity:
                self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / self.limit.rate
