"""The header a mutation's idempotency key arrives in: ``Idempotency-Key`` unless a service names another.

Without ``from __future__ import annotations`` on purpose: FastAPI reads the header's alias from the dependency's
signature, and a string annotation would be resolved in this module's globals, where the closure's ``header`` is not.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request

from services.common.mutations import IDEMPOTENCY_KEY_HEADER, IdempotentMutation, mutation_runner

KEY_DESCRIPTION = (
    "Retrying with the same key and body replays the first answer instead of acting twice. A key stands for one "
    "request: sent with another method, path or body it answers 422 `idempotency_key_reuse`"
)


def keyed_by(header: str) -> Callable[..., Awaitable[IdempotentMutation]]:
    """The dependency reading a mutation whose key arrives in ``header``: APIs name it differently (Stripe and the
    IETF draft say ``Idempotency-Key``, others ``X-Request-Key``). A service declares its route parameter type with it,
    as :data:`Mutation` does: ``Annotated[IdempotentMutation, Depends(keyed_by("X-Request-Key"))]``."""

    async def incoming_mutation(
        request: Request,
        key: Annotated[
            str | None, Header(alias=header, min_length=1, max_length=255, description=KEY_DESCRIPTION)
        ] = None,
    ) -> IdempotentMutation:
        return IdempotentMutation(mutation_runner(request), key, request.method, request.url.path, header)

    return incoming_mutation


Mutation = Annotated[IdempotentMutation, Depends(keyed_by(IDEMPOTENCY_KEY_HEADER))]
"""Route parameter type for POST handlers: ``async def create(body: X, mutation: Mutation)``."""
