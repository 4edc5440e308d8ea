"""``POST /fences``: the HTTP face of :mod:`services.common.fences`, shared by every service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from services.common.error_docs import VALIDATED, error_docs
from services.common.fences import FenceOutcome, FenceRequest, Undoer
from services.common.mutations import REPLAYED_HEADER, mutation_runner


def build_fence_router(undo: Undoer) -> APIRouter:
    """``POST /fences`` for a service whose creations ``undo`` knows how to reverse."""
    router = APIRouter(tags=["fences"])

    @router.post(
        "/fences",
        status_code=201,
        response_model=FenceOutcome,
        responses={
            200: {"model": FenceOutcome, "description": "The key was fenced before: the first fence's outcome"},
            **error_docs(VALIDATED),
        },
        summary="Undo the request with this Idempotency-Key if it committed, and refuse it from now on",
    )
    async def fence(
        body: FenceRequest,
        request: Request,
        _: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
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
