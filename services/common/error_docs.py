"""Which error answers each kind of route documents in OpenAPI, so the published contract lists every status it gives.

A route declares its own answers (``404`` for an unknown id, its ``409`` conflicts) by composing the groups below
with :func:`error_docs`; the statuses every bearer-protected route shares are added once, where the routers are
included (:mod:`services.common.app_factory`). Descriptions name the ``error.code`` so a client knows what to branch
on. FastAPI keeps one entry per status and a route's entry replaces the router's, so every group that can answer
``422`` is composed here and never split between route and router.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.errors import ErrorResponse

ErrorGroup = Mapping[int, str]
"""Statuses a kind of route can answer, each with what it means."""

AUTHENTICATED: ErrorGroup = {401: "`unauthorized`: missing or wrong bearer token"}
VALIDATED: ErrorGroup = {422: "`validation_error`: the request breaks this schema; `details` names each field"}
FAULTED: ErrorGroup = {
    429: "`rate_limited`: injected rate limit, nothing was applied; retry after `Retry-After` seconds",
    503: "`service_unavailable`: injected outage, nothing was applied; safe to retry",
}


def keyed(header: str) -> ErrorGroup:
    """What a request taking an idempotency key in ``header`` can answer because of its key, whatever the route."""
    return {
        409: f"`request_fenced`: this {header} was fenced by a compensation; nothing was applied",
        422: f"`idempotency_key_reuse`: this {header} was used for a different request; use a new key",
    }


IDEMPOTENT: ErrorGroup = keyed("Idempotency-Key")
"""What a POST taking an ``Idempotency-Key`` can answer because of its key, whatever the route."""


def not_found(noun: str) -> ErrorGroup:
    """The ``404`` of a route that names a record in its path: ``<noun>_not_found``."""
    return {404: f"`{noun.lower()}_not_found`: no such {noun}"}


def lifecycle_move(noun: str) -> dict[int | str, dict[str, Any]]:
    """The answers of a POST moving a record through its :class:`~services.common.lifecycle.Lifecycle`."""
    return error_docs(
        VALIDATED,
        IDEMPOTENT,
        not_found(noun),
        {409: f"`invalid_state`: the {noun}'s status does not allow this move (`status` says what it is)"},
    )


def error_docs(*groups: ErrorGroup) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these groups; two groups that share a status have their descriptions joined."""
    merged: dict[int, list[str]] = {}
    for group in groups:
        for status, description in group.items():
            merged.setdefault(status, []).append(description)
    return {
        status: {"model": ErrorResponse, "description": "; ".join(descriptions)}
        for status, descriptions in sorted(merged.items())
    }
