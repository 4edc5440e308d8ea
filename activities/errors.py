"""The one place that decides what an HTTP outcome means to Temporal: retry, retry later, or never retry.

Retryability is decided by the outermost error, so these `ApplicationError`s are raised as they are, never wrapped.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from cadenza import failure_types
from workflows.saga_definition import Outcome

# Answers that will be the same however often we ask: a declined card, an out-of-stock SKU, a request the service
# considers invalid, a request fenced by its compensation. Retrying would only delay the compensation.
_PERMANENT_STATUSES = frozenset({400, 402, 404, 409, 410, 422})
# A 404 is the service's own "no such record" only when it says so in its error body (`order_not_found`, ...). A bare
# 404 — a wrong base URL, a proxy or gateway without the route — says nothing about the record: were it permanent, a
# misconfigured service would turn every step into a compensation and every compensation into "nothing to undo".
_ROUTE_NOT_FOUND_CODES = frozenset({"not_found", "http_404"})
# 401/403 are not permanent either: a rotated token or a permissions change is fixed by an operator within minutes,
# and the step's retry budget (workflows/policies.py) is that while. Then the step fails, or the compensation waits in
# needs_attention, with the service's own message.
_DEFAULT_RETRY_AFTER = timedelta(seconds=1)
_MAX_RETRY_AFTER = timedelta(seconds=60)


def error_type(code: str) -> str:
    """`card_declined` → `CardDeclined`: the service's error code as a Temporal error type."""
    return "".join(part.capitalize() for part in code.split("_") if part) or failure_types.UNKNOWN_ERROR


def _error_code(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
        return str(error.get("code") or f"http_{response.status_code}"), str(
            error.get("message") or response.reason_phrase
        )
    except (ValueError, AttributeError):
        return f"http_{response.status_code}", response.text[:200] or response.reason_phrase


def _retry_after(response: httpx.Response) -> timedelta:
    raw = response.headers.get("Retry-After", "")
    try:
        delay = timedelta(seconds=float(raw))
    except ValueError:
        return _DEFAULT_RETRY_AFTER
    return min(max(delay, timedelta(0)), _MAX_RETRY_AFTER)


def error_for_response(service: str, response: httpx.Response) -> ApplicationError:
    """The Temporal error for a non-2xx answer from `service`."""
    code, message = _error_code(response)
    text = f"{service} answered {response.status_code} {code}: {message}"
    if response.status_code == 429:
        # Honour the server's back-off instead of our own exponential schedule for this one attempt.
        return ApplicationError(text, type=failure_types.RATE_LIMITED, next_retry_delay=_retry_after(response))
    permanent = response.status_code in _PERMANENT_STATUSES and not (
        response.status_code == 404 and code in _ROUTE_NOT_FOUND_CODES
    )
    if response.status_code == 404 and not permanent:
        text += f" — the route does not exist there: check CADENZA_{service.upper()}_URL"
    kind = failure_types.ROUTE_NOT_FOUND if response.status_code == 404 and not permanent else error_type(code)
    return ApplicationError(
        text,
        {"service": service, "status": response.status_code, "code": code},
        type=kind,
        non_retryable=permanent,
        category=_category(kind, final=permanent),
    )


def _category(kind: str, *, final: bool) -> ApplicationErrorCategory:
    """Benign: a final business refusal (a declined card, an out-of-stock SKU) is an outcome the order is designed
    for, not a failure: the SDK logs it at DEBUG, with no traceback on anyone's console. Everything else, a 503 before
    its retry included, stays a failure the logs show in full."""
    if final and kind in failure_types.BUSINESS_REFUSALS:
        return ApplicationErrorCategory.BENIGN
    return ApplicationErrorCategory.UNSPECIFIED


def error_for_outcome(service: str, response: httpx.Response, outcome: Outcome) -> ApplicationError:
    """The Temporal error for an answer a declared step classified (its `outcomes`): the same message and type as
    `error_for_response`, with the retryability the definition declares instead of ours."""
    code, message = _error_code(response)
    return ApplicationError(
        f"{service} answered {response.status_code} {code}: {message}",
        {"service": service, "status": response.status_code, "code": code},
        type=error_type(code),
        non_retryable=outcome is Outcome.FINAL,
        category=_category(error_type(code), final=outcome is Outcome.FINAL),
        next_retry_delay=_retry_after(response) if outcome is Outcome.RETRY_AFTER else None,
    )


def error_for_transport(service: str, err: httpx.TransportError) -> ApplicationError:
    """Timeouts and connection failures are retried: the request may or may not have taken effect, and the
    idempotency key makes the retry safe either way."""
    kind = (
        failure_types.SERVICE_TIMEOUT if isinstance(err, httpx.TimeoutException) else failure_types.SERVICE_UNREACHABLE
    )
    return ApplicationError(f"{service}: {type(err).__name__}: {err or 'no details'}", type=kind)


def error_for_unsendable(service: str, err: Exception) -> ApplicationError:
    """A request httpx refused to build: it never left the worker, and every retry would be refused the same way."""
    return ApplicationError(
        f"{service}: the request cannot be sent ({type(err).__name__}: {err}); nothing reached the service. "
        "Check what the step renders into its path and headers.",
        type=failure_types.UNSENDABLE_REQUEST,
        non_retryable=True,
    )
