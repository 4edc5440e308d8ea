"""Every error the Order API (and the codec server) answers is an RFC 9457 problem (`application/problem+json`): one
shape, one place, in the kernel so that both doors answer with it without importing each other.

Raise `Problem(...)` anywhere below a route; `install_problem_handlers` turns it — and FastAPI's own validation and
routing errors — into the same document. Nothing a client sends may produce a 5xx or a stack trace: an unexpected
exception is logged and answered with a bare 500 problem that says only what to do next.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cadenza.allowed_methods import allowed_methods
from cadenza.errors import CadenzaError

PROBLEM_JSON = "application/problem+json"
_log = logging.getLogger("cadenza.api")  # the name these lines have always gone under, whichever door logs them


class InvalidField(BaseModel):
    """One invalid field of a request, named as the CLI names it (`lines.0.quantity`)."""

    field: str
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, with Cadenza's `errors` extension for invalid fields."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI naming the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[InvalidField] | None = None


class Problem(CadenzaError):
    """An error answer: `Problem(404, "Order not found", "No order 'o-1'.")`."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[InvalidField] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.headers = dict(headers or {})
        self.errors = errors
        self.extensions = extensions

    def response(self, instance: str | None = None) -> JSONResponse:
        body = ProblemDetails(
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
            **self.extensions,
        )
        return JSONResponse(
            body.model_dump(mode="json", exclude_none=True),
            status_code=self.status,
            headers=self.headers or None,
            media_type=PROBLEM_JSON,
        )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting that a route may answer these statuses with a problem."""
    return {
        status: {"model": ProblemDetails, "content": {PROBLEM_JSON: {}}, "description": _TITLES.get(status, "Error")}
        for status in statuses
    }


_TITLES = {
    400: "Bad request",
    401: "Missing or unknown API key",
    403: "The API key lacks the scope this needs",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict with the order's current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Temporal is unavailable",
}


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _answer_problem)
    app.add_exception_handler(RequestValidationError, _answer_validation_error)
    app.add_exception_handler(StarletteHTTPException, _answer_http_exception)
    app.add_exception_handler(Exception, _answer_unexpected)


async def _answer_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return exc.response(request.url.path)


async def _answer_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [InvalidField(field=_field(e), message=_message(e)) for e in exc.errors()[:20]]
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "the request is not valid"
    return Problem(422, "Invalid request", detail, errors=errors).response(request.url.path)


async def _answer_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    title = _TITLES.get(exc.status_code, "Error")
    detail = f"No route for {request.method} {request.url.path}" if exc.status_code == 404 else str(exc.detail)
    if exc.status_code == 400:
        # FastAPI's bare 400 for a body it cannot decode at all (bad UTF-8, absurd nesting): just another invalid body.
        errors = [InvalidField(field="body", message="could not be parsed as JSON")]
        return Problem(422, _TITLES[422], "body: could not be parsed as JSON", errors=errors).response(request.url.path)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    return Problem(exc.status_code, title, detail, headers=headers).response(request.url.path)


async def _answer_unexpected(request: Request, exc: Exception) -> JSONResponse:
    _log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return Problem(
        500,
        "Internal error",
        f"The {request.app.title} hit an unexpected error; it is logged. Retry, or report it "
        "with the X-Request-ID of this answer.",
    ).response(request.url.path)


def field_name(location: Any) -> str:
    """`("body", "lines", 0, "quantity")` → `lines.0.quantity`, as `cadenza order place` names fields."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    return ".".join(parts) or "(whole document)"


def _field(error: Mapping[str, Any]) -> str:
    """The field an error names; for JSON that does not parse, the whole document (its location is a character
    offset, `body.18`, not a field), as `cadenza order place` says."""
    return "(whole document)" if error.get("type") == "json_invalid" else field_name(error.get("loc", ()))


def _message(error: Mapping[str, Any]) -> str:
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        message = f"malformed JSON ({(error.get('ctx') or {}).get('error', message)})"
    return message.encode("utf-8", "replace").decode("utf-8")
