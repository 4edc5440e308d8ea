"""Load shapes, independent of what fulfils an order: one at a time (latency) and N started at once (throughput)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starters.bench.workload import BenchOrderFailed, Fulfil
from workflows.models import Order

Advance = Callable[[], None]


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (as numpy's default); 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Latencies:
    """Wall-clock milliseconds from placing each order to its completion."""

    samples_ms: tuple[float, ...]

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 0.99)


@dataclass(frozen=True)
class Burst:
    """`orders` started at once; throughput is completions per second of wall time until the last one finished."""

    orders: int
    elapsed_s: float
    latencies: Latencies

    @property
    def throughput(self) -> float:
        return self.orders / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def _timed(fulfil: Fulfil, order: Order, advance: Advance) -> float:
    started = time.perf_counter()
    await fulfil(order)
    advance()
    return (time.perf_counter() - started) * 1000


async def run_sequential(
    fulfil: Fulfil, orders: Sequence[Order], advance: Advance = lambda: None, *, settle: Fulfil | None = None
) -> Latencies:
    """One order at a time: each latency is the whole of `fulfil` with nothing else in flight. `settle`, untimed, runs
    after each: for a `fulfil` that answers before the order is done (its payment decision), it waits for the order
    to finish, so that the next one again starts alone."""
    samples = []
    for order in orders:
        samples.append(await _timed(fulfil, order, advance))
        if settle is not None:
            await settle(order)
    return Latencies(tuple(samples))


async def run_burst(fulfil: Fulfil, orders: Sequence[Order], advance: Advance = lambda: None) -> Burst:
    """Every order started at once; fails, naming the first error, if any order did not complete."""
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(_timed(fulfil, order, advance) for order in orders), return_exceptions=True)
    elapsed = time.perf_counter() - started
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise BenchOrderFailed(
            f"{len(failures)} of {len(orders)} orders started at once did not complete; the first: {failures[0]!r}"
        ) from failures[0]
    return Burst(len(orders), elapsed, Latencies(tuple(outcomes)))  # type: ignore[arg-type]
