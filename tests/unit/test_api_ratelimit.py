"""The per-key token bucket (api/ratelimit.py) and how its setting is written."""

from __future__ import annotations

import pytest

from api.ratelimit import InvalidRateLimit, RateLimit, RateLimiter
from cadenza.settings import InvalidSetting


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("spec", "burst", "rate", "size"),
    [("50/s", None, 50.0, 100), ("3000/min", None, 50.0, 100), ("60/m", "5", 1.0, 5), ("10/h", None, 10 / 3600, 1)],
)
def test_settings_are_read_as_rate_and_burst(spec, burst, rate, size):
    limit = RateLimit.parse(spec, burst)
    assert limit is not None and (limit.rate, limit.burst) == pytest.approx((rate, size))


def test_off_means_no_limit_and_nonsense_is_refused_with_an_example():
    assert RateLimit.parse("off") is None
    assert RateLimiter(None).acquire("k") == 0.0
    for spec in ("50", "fast", "50/fortnight", "0/s", "-3/s"):
        with pytest.raises(InvalidRateLimit, match=r"CADENZA_API_RATE_LIMIT=.*e.g. 50/s"):
            RateLimit.parse(spec)
    with pytest.raises(InvalidRateLimit, match="CADENZA_API_RATE_BURST"):
        RateLimit.parse("50/s", "0")


def test_the_default_is_50_per_second_with_a_burst_of_100(monkeypatch):
    monkeypatch.delenv("CADENZA_API_RATE_LIMIT", raising=False)
    monkeypatch.delenv("CADENZA_API_RATE_BURST", raising=False)
    limit = RateLimit.from_environment()
    assert limit is not None and (limit.rate, limit.burst) == (50.0, 100)


def test_a_burst_then_the_steady_rate_per_key():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(rate=10.0, burst=3), clock=clock)
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.1)
    assert limiter.acquire("b") == 0.0, "each key has a bucket of its own"
    clock.now += 0.1
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == pytest.approx(0.1)
    clock.now += 60
    assert [limiter.acquire("a") for _ in range(4)][-1] > 0, "a quiet spell refills to the burst, not beyond"


def test_addresses_keep_a_bounded_number_of_buckets_dropping_the_least_recently_seen():
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(rate=1.0, burst=1), clock=clock, capacity=2)
    assert limiter.acquire("a") == 0.0 and limiter.acquire("b") == 0.0
    assert limiter.acquire("a") > 0, "a is out of requests, and seen last"
    limiter.acquire("c")  # a third address: b, the least recently seen, is dropped
    assert limiter.acquire("a") > 0, "a kept its (empty) bucket"
    assert limiter.acquire("b") == 0.0, "b starts again with a full bucket"


def test_the_limit_for_requests_without_a_key_has_settings_of_its_own(monkeypatch):
    monkeypatch.delenv("CADENZA_API_ANONYMOUS_RATE_LIMIT", raising=False)
    monkeypatch.delenv("CADENZA_API_ANONYMOUS_RATE_BURST", raising=False)
    limiter = RateLimiter.for_addresses_from_environment()
    assert limiter.limit is not None and (limiter.limit.rate, limiter.limit.burst) == (5.0, 10)
    monkeypatch.setenv("CADENZA_API_ANONYMOUS_RATE_BURST", "0")
    with pytest.raises(InvalidSetting, match="CADENZA_API_ANONYMOUS_RATE_BURST='0' is not a whole number, 1 or more"):
        RateLimiter.for_addresses_from_environment()
