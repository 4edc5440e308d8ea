"""``POST /fences``: the HTTP face of :mod:`services.common.fences`, shared by every service.

Without ``from __future__ import annotations`` on purpose, as services.common.keys: the key header's alias is a
closure variable, which FastAPI could not resolve from a string annotation.
"""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.common.error_docs import VALIDATED, ErrorGroup, error_docs
from services.common.fences import FenceOutcome, FenceRequest, Undoer
from services.common.mutations import IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER, mutation_runner


def build_fence_router(
    undo: Undoer, *, key_header: str = IDEMPOTENCY_KEY_HEADER, refusals: ErrorGroup | None = None
) -> APIRouter:
    """``POST /fences`` for a service whose creations ``undo`` knows how to reverse.

    ``key_header`` is the header the service's requests carry their keys in; ``refusals`` documents what ``undo``
    answers for a committed request it cannot void (a ticketed flight), which leaves the key unfenced.
    """
    router = APIRouter(tags=["fences"])

    @router.post(
        "/fences",
        status_code=201,
        response_model=FenceOutcome,
        responses={
            200: {"model": FenceOutcome, "description": "The key was fenced before: the first fence's outcome"},
            **error_docs(VALIDATED, refusals or {}),
        },
        summary=f"Undo the request with this {key_header} if it committed, and refuse it from now on",
        operation_id="fence",
    )
    async def fence(
        body: FenceRequest,
        request: Request,
        _: Annotated[
            str | None,
            Header(
                alias=key_header,
                min_length=1,
                max_length=255,
                description=(
                    "Accepted for uniformity with other POSTs and ignored: a fence is idempotent by its body's key"
                ),
            ),
        ] = None,
    ) -> JSONResponse:
        outcome, repeat = await mutation_runner(request).fence(body.key, undo)
        headers = {REPLAYED_HEADER: "true"} if repeat else None
        return JSONResponse(outcome.model_dump(mode="json"), status_code=200 if repeat else 201, headers=headers)

    return router
