"""`cadenza load`'s verdict: an order that errored (or ended any other way than completed or compensated) fails the
run, and an error no retry can change is reported at once instead of after two minutes of retries."""

from __future__ import annotations

import asyncio
from collections import Counter

from temporalio.service import RPCError, RPCStatusCode

from starters.load import LoadReport, generate_orders, run_load


class _RefusingClient:
    """A Temporal client whose every start is refused for good (FAILED_PRECONDITION)."""

    def __init__(self) -> None:
        self.starts = 0

    async def start_workflow(self, *_args: object, **_kwargs: object) -> None:
        self.starts += 1
        raise RPCError("refused for the test", RPCStatusCode.FAILED_PRECONDITION, b"")


async def test_orders_that_error_are_unfinished_and_reported_without_retrying():
    client = _RefusingClient()
    report = LoadReport("r", orders=3, concurrency=3, seed=1)
    orders = generate_orders(3, seed=1, run_id="r")

    await asyncio.wait_for(run_load(client, orders, concurrency=3, report=report), timeout=10)  # type: ignore[arg-type]

    assert client.starts == 3  # one attempt each: a permanent refusal is not retried
    assert report.outcomes == Counter(error=3) and report.unfinished == Counter(error=3) and report.closed == 0
    assert all("refused for the test" in error for error in report.errors)
    assert report.summary()["unfinished"] == {"error": 3}


def test_only_completed_and_compensated_orders_count_as_closed():
    report = LoadReport("r", orders=5, concurrency=1, seed=1)
    report.outcomes.update(completed=2, compensated=1, error=1, running=1)
    assert report.closed == 3
    assert report.unfinished == Counter(error=1, running=1)
