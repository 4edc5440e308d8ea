"""The one HTTP → Temporal error mapping (activities/errors.py): what is retried, what is final."""

from __future__ import annotations

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.errors import error_for_response
from activities.http import ServiceClient
from cadenza.settings import ServiceEndpoint


def _answer(status: int, code: str | None = None, text: str | None = None) -> httpx.Response:
    if code is not None:
        return httpx.Response(status, json={"error": {"code": code, "message": "service says no"}})
    return httpx.Response(status, text=text or "")


@pytest.mark.parametrize(
    ("status", "code", "error_type"),
    [
        (402, "card_declined", "CardDeclined"),
        (409, "out_of_stock", "OutOfStock"),
        (409, "request_fenced", "RequestFenced"),
        (404, "order_not_found", "OrderNotFound"),
        (422, "validation_error", "ValidationError"),
    ],
)
def test_a_services_own_refusal_is_final(status, code, error_type):
    error = error_for_response("erp", _answer(status, code))
    assert (error.type, error.non_retryable) == (error_type, True)


@pytest.mark.parametrize(
    "response",
    [_answer(404, "not_found"), _answer(404, text="<html>404 Not Found</html>")],
    ids=["route-level 404 from the service", "404 from a gateway"],
)
def test_a_404_that_names_no_record_is_retried_and_says_to_check_the_url(response):
    # A wrong base URL must not make every compensation a silent "nothing to undo".
    error = error_for_response("payment", response)
    assert (error.type, error.non_retryable) == ("RouteNotFound", False)
    assert "CADENZA_PAYMENT_URL" in error.message


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_retried_for_the_steps_budget(status):
    # A rotated token is an operator's fix within minutes, not a reason to compensate every order in flight.
    assert error_for_response("erp", _answer(status, "unauthorized")).non_retryable is False


async def test_a_request_that_cannot_be_encoded_is_final_and_never_sent():
    # Port 9 on loopback: nothing listens, so a request that was sent would fail as unreachable (retried) instead.
    endpoint = ServiceEndpoint(name="car", base_url="http://127.0.0.1:9", token="t0ken")
    async with httpx.AsyncClient() as http:
        client = ServiceClient(http, endpoint)
        with pytest.raises(ApplicationError) as refused:
            await client.request("POST", "/rentals", json={}, headers={"X-Request-Key": "saga-f\U0007a325t/rent/1"})
    assert (refused.value.type, refused.value.non_retryable) == ("UnsendableRequest", True)
    assert "nothing reached the service" in str(refused.value)


@pytest.mark.parametrize(
    ("status", "code", "benign"),
    [
        (402, "card_declined", True),
        (402, "insufficient_funds", True),
        (409, "out_of_stock", True),
        (422, "validation_error", False),  # a request the service finds invalid is a fault, logged in full
        (409, "request_fenced", False),
        (503, "service_unavailable", False),  # retried: each failed attempt stays a warning in the worker's log
    ],
)
def test_only_a_final_business_refusal_is_benign(status, code, benign):
    # Benign: the SDK logs the failed activity at DEBUG, without the traceback `make demo` used to print four times.
    from temporalio.exceptions import ApplicationErrorCategory

    error = error_for_response("payment", _answer(status, code))
    expected = ApplicationErrorCategory.BENIGN if benign else ApplicationErrorCategory.UNSPECIFIED
    assert error.category == expected
