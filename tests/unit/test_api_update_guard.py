"""Per-order protection of Temporal's per-execution limits (api/update_guard.py) and the per-key cap of held
requests (api/holds.py): refused before Temporal is asked, with a problem that says what to do — never a 500."""

from __future__ import annotations

import pytest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.service import RPCError, RPCStatusCode

from api.holds import STREAMS_ENV, WAITS_ENV, HoldLimit, Holds
from api.ownership import OrderAddress
from api.update_guard import ORDER_BUSY, ORDER_HISTORY_FULL, ORDER_OUT_OF_UPDATES, UpdateGuard, temporal_refusal
from cadenza.problems import Problem
from cadenza.settings import InvalidSetting

ADDRESS = OrderAddress("ord-1", "c-17", "ord-1_0123456789abcdef")
# Temporal's messages, as its server words them (service/history/workflow/update).
OUT_OF_UPDATES = "The limit on the total number of distinct updates in this workflow has been reached (2000)."
TOO_MANY_IN_FLIGHT = "limit on number of concurrent in-flight updates has been reached (10)"


class Described:
    """What the guard reads of a description: the history's length and size."""

    def __init__(self, events: int, size: int = 0) -> None:
        self.history_length = events
        self.raw_description = DescribeWorkflowExecutionResponse()
        self.raw_description.workflow_execution_info.history_size_bytes = size


async def test_one_update_in_flight_per_order_the_next_is_busy_with_retry_after():
    guard = UpdateGuard(max_in_flight=1)
    async with guard.update(ADDRESS, None):
        with pytest.raises(Problem) as busy:
            async with guard.update(ADDRESS, None):
                pass
        async with guard.update(OrderAddress("ord-2", "c-17", "ord-2"), None):  # another order: its own count
            pass
    assert (busy.value.status, busy.value.extensions["type"]) == (409, ORDER_BUSY)
    assert busy.value.headers["Retry-After"] and "nothing was changed" in busy.value.detail
    async with guard.update(ADDRESS, None):  # the first one ended: room again
        pass


@pytest.mark.parametrize(("events", "size"), [(100, 0), (10, 10_000)])
async def test_near_temporals_history_limits_an_update_is_refused_before_temporal_is_asked(events, size):
    guard = UpdateGuard(max_history_events=100, max_history_bytes=10_000)
    with pytest.raises(Problem) as full:
        async with guard.update(ADDRESS, Described(events, size)):  # type: ignore[arg-type]
            pytest.fail("the update must not be sent")
    assert (full.value.status, full.value.extensions["type"]) == (409, ORDER_HISTORY_FULL)
    assert "GET /orders/ord-1?customer_id=c-17" in full.value.detail
    async with guard.update(ADDRESS, Described(events - 1, size - 1)):  # type: ignore[arg-type]
        pass


@pytest.mark.parametrize(
    ("message", "kind"), [(OUT_OF_UPDATES, ORDER_OUT_OF_UPDATES), (TOO_MANY_IN_FLIGHT, ORDER_BUSY)]
)
async def test_temporals_refusal_at_a_limit_is_a_409_that_says_what_to_do(message, kind):
    refusal = RPCError(message, RPCStatusCode.RESOURCE_EXHAUSTED, b"")
    with pytest.raises(Problem) as answered:
        async with UpdateGuard().update(ADDRESS, None):
            raise refusal
    assert (answered.value.status, answered.value.extensions["type"]) == (409, kind)
    assert "nothing was changed" in answered.value.detail and "ord-1_" not in answered.value.detail


async def test_any_other_rpc_error_goes_on_unchanged():
    other = RPCError("boom", RPCStatusCode.INTERNAL, b"")
    assert temporal_refusal(other, ADDRESS) is None
    with pytest.raises(RPCError):
        async with UpdateGuard().update(ADDRESS, None):
            raise other


def test_a_key_holds_at_most_its_cap_and_a_release_counts_once():
    limit = HoldLimit(2)
    first, second = limit.take("k1"), limit.take("k1")
    assert first and second and limit.take("k1") is None and limit.take("k2") is not None
    first()
    first()  # released twice (the stream ended, then its response): counted once
    assert limit.held("k1") == 1 and limit.take("k1") is not None


def test_caps_are_read_from_the_environment_and_nonsense_names_its_variable(monkeypatch):
    monkeypatch.setenv(STREAMS_ENV, "3")
    monkeypatch.delenv(WAITS_ENV, raising=False)
    holds = Holds.from_environment()
    assert (holds.streams.limit, holds.waits.limit) == (3, 100)
    monkeypatch.setenv(WAITS_ENV, "0")
    with pytest.raises(InvalidSetting, match=WAITS_ENV):
        Holds.from_environment()
