"""One error shape for every failure: ``{"error": {"code": ..., "message": ..., ...extra}}``.

Callers (the saga's activities, tests, a human with curl) branch on ``code``, so
every path that can produce a non-2xx answer — business rules, request
validation, unknown routes, auth, injected faults and genuine bugs — goes
through this module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from cadenza.allowed_methods import allowed_methods

# Validation answers list at most this many problems; a junk body can produce
# hundreds and nobody reads past the first few.
_MAX_REPORTED_PROBLEMS = 10


class ErrorDetail(BaseModel):
    """The inside of an error body; endpoints may add fields such as ``sku`` or ``charge``."""

    model_config = ConfigDict(extra="allow")

    code: str
    message: str


class ErrorResponse(BaseModel):
    """Every non-2xx body, as documented in the OpenAPI schema."""

    error: ErrorDetail


class ServiceError(Exception):
    """A deliberate, well-formed failure answer, raised anywhere below a route.

    ``extra`` keyword arguments become additional fields of the error object,
    e.g. ``ServiceError(409, "out_of_stock", "...", sku="SKU-OOS")``.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body this error answers with."""
        return error_body(self.code, self.message, **self.extra)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """Build the canonical error body."""
    return {"error": {"code": code, "message": message, **extra}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build a ready-to-send error response (also usable as a raw ASGI app)."""
    return JSONResponse(error_body(code, message, **extra), status_code=status_code, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception type an app can raise to the canonical error shape."""
    app.add_exception_handler(ServiceError, _answer_service_error)
    app.add_exception_handler(RequestValidationError, _answer_validation_error)
    app.add_exception_handler(StarletteHTTPException, _answer_framework_error)
    # Registered on Exception, Starlette runs this from its outermost middleware:
    # a genuine bug still answers 500, but in the shape callers know how to
    # parse. Starlette re-raises afterwards, so the server still logs the trace.
    app.add_exception_handler(Exception, _answer_unexpected_error)


async def _answer_service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)


async def _answer_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe_problem(problem) for problem in exc.errors()[:_MAX_REPORTED_PROBLEMS]]
    message = "; ".join(f"{problem['field']}: {problem['message']}" for problem in problems)
    return error_response(422, "validation_error", message or "Invalid request", details=problems)


async def _answer_framework_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(404, "not_found", f"No route for {request.method} {request.url.path}")
    if exc.status_code == 400:
        # FastAPI raises a bare 400 when a body is not decodable at all (bad
        # UTF-8, absurd nesting); to callers that is just another invalid body.
        return error_response(422, "validation_error", "body: request body could not be parsed as JSON")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    code = _snake_case(HTTPStatus(exc.status_code).phrase) if exc.status_code in _KNOWN_STATUSES else "http_error"
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


async def _answer_unexpected_error(_: Request, __: Exception) -> JSONResponse:
    return error_response(500, "internal_error", "The service hit an unexpected error")


_KNOWN_STATUSES = frozenset(status.value for status in HTTPStatus)


def _describe_problem(problem: Mapping[str, Any]) -> dict[str, str]:
    """Turn one pydantic error into ``{field, message, type}`` without echoing raw input."""
    field = _field_path(problem.get("loc", ()))
    message = str(problem.get("msg", "invalid value"))
    context = problem.get("ctx") or {}
    if problem.get("type") == "json_invalid" and "error" in context:
        message = f"malformed JSON ({context['error']})"
    return {
        "field": _printable(field),
        "message": _printable(message),
        "type": str(problem.get("type", "invalid")),
    }


def _field_path(location: Sequence[Any]) -> str:
    """``("body", "lines", 0, "sku")`` -> ``lines[0].sku``; other sources keep a prefix (``header.X``)."""
    parts = list(location)
    if parts and parts[0] == "body":
        parts = parts[1:]
        if not parts or isinstance(parts[0], int):  # whole-body problem or a JSON offset
            return "body"
    path = ""
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "request"


def _printable(text: str) -> str:
    """Replace anything that cannot be encoded as UTF-8 (lone surrogates in junk keys)."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _snake_case(phrase: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")
