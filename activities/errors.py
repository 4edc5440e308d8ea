"""The one place that decides what an HTTP outcome means to Temporal: retry, retry later, or never retry.

Retryability is decided by the outermost error, so these `ApplicationError`s are raised as they are, never wrapped.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.exceptions import ApplicationError

# Answers that will be the same however often we ask: a declined card, an out-of-stock SKU, a request the service
# considers invalid, credentials it refuses. Retrying would only delay the compensation.
_PERMANENT_STATUSES = frozenset({400, 401, 402, 403, 404, 409, 410, 422})
_DEFAULT_RETRY_AFTER = timedelta(seconds=1)
_MAX_RETRY_AFTER = timedelta(seconds=60)


def error_type(code: str) -> str:
    """`card_declined` → `CardDeclined`: the service's error code as a Temporal error type."""
    return "".join(part.capitalize() for part in code.split("_") if part) or "UnknownError"


def _error_code(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json().get("error", {})
        return str(error.get("code") or f"http_{response.status_code}"), str(error.get("message") or response.reason_phrase)
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
        return ApplicationError(text, type="RateLimited", next_retry_delay=_retry_after(response))
    return ApplicationError(
        text,
        {"service": service, "status": response.status_code, "code": code},
        type=error_type(code),
        non_retryable=response.status_code in _PERMANENT_STATUSES,
    )


def error_for_transport(service: str, err: httpx.TransportError) -> ApplicationError:
    """Timeouts and connection failures are retried: the request may or may not have taken effect, and the
    idempotency key makes the retry safe either way."""
    kind = "ServiceTimeout" if isinstance(err, httpx.TimeoutException) else "ServiceUnreachable"
    return ApplicationError(f"{service}: {type(err).__name__}: {err or 'no details'}", type=kind)
