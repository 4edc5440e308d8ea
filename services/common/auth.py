"""Bearer-token authentication shared by all simulated services."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.common.errors import ServiceError

BearerGuard = Callable[..., Awaitable[None]]
"""A FastAPI dependency that returns nothing and raises 401 for bad credentials."""

# auto_error=False: the scheme would answer 403 in FastAPI's own shape; we want
# 401 in ours. Declaring the scheme still gives /docs its "Authorize" button.
_bearer_scheme = HTTPBearer(auto_error=False, description="Service token: `Authorization: Bearer <token>`")


def bearer_token_guard(expected_token: str) -> BearerGuard:
    """Build a dependency that admits only requests carrying ``Bearer <expected_token>``."""
    expected = expected_token.encode("utf-8")

    async def require_bearer_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
    ) -> None:
        if credentials is None:
            raise _unauthorized("Missing bearer token: send 'Authorization: Bearer <token>'")
        # Constant-time comparison so the token cannot be probed byte by byte.
        if not secrets.compare_digest(credentials.credentials.encode("utf-8"), expected):
            raise _unauthorized("Invalid bearer token")

    return require_bearer_token


def _unauthorized(message: str) -> ServiceError:
    return ServiceError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
