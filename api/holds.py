"""Requests that hold a connection open — event streams and `Prefer: wait` — capped per API key.

The rate limit counts requests as they arrive; a held request costs for as long as it is open (a stream asks the
worker every 0.2 s, a wait holds a long poll on Temporal), so one key holding hundreds of them slows every other
client. Each key may hold at most this many at once, per API replica:

- `CADENZA_API_MAX_STREAMS_PER_KEY` (default 10) event streams; one more is a 429 with `Retry-After`.
- `CADENZA_API_MAX_WAITS_PER_KEY` (default 100) waits; beyond it an order is answered at once, without
  `Preference-Applied` (RFC 7240 lets a server not honour a preference), and the client follows it as any 202.

Counted in this process only, like the rate limit (api/ratelimit.py says why).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from cadenza.errors import CadenzaError

STREAMS_ENV = "CADENZA_API_MAX_STREAMS_PER_KEY"
WAITS_ENV = "CADENZA_API_MAX_WAITS_PER_KEY"
DEFAULT_STREAMS = 10
DEFAULT_WAITS = 100


class InvalidHoldLimit(CadenzaError, ValueError):
    """A cap that cannot be read; the message names the variable."""


@dataclass
class HoldLimit:
    """At most `limit` held requests per key; `take` answers the release to call once the request ends, or None."""

    limit: int
    _held: dict[str, int] = field(default_factory=dict)

    def take(self, key_id: str) -> Callable[[], None] | None:
        held = self._held.get(key_id, 0)
        if held >= self.limit:
            return None
        self._held[key_id] = held + 1
        released = False

        def release() -> None:
            nonlocal released
            if released:  # a request ends once, whichever way it ends
                return
            released = True
            if (left := self._held[key_id] - 1) > 0:
                self._held[key_id] = left
            else:
                del self._held[key_id]

        return release

    def held(self, key_id: str) -> int:
        return self._held.get(key_id, 0)


@dataclass(frozen=True)
class Holds:
    streams: HoldLimit
    waits: HoldLimit

    @classmethod
    def from_environment(cls) -> Holds:
        return cls(HoldLimit(_limit(STREAMS_ENV, DEFAULT_STREAMS)), HoldLimit(_limit(WAITS_ENV, DEFAULT_WAITS)))


def _limit(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise InvalidHoldLimit(f"{variable}={text!r}: write a whole number, 1 or more (default {default})")
    return int(text)
