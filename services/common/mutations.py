"""Running a state-changing request exactly once, whatever the caller retries.

Every POST route hands its effect to :class:`IdempotentMutation.apply`, which

1. takes the process-wide mutation lock,
2. opens one SQLite transaction,
3. refuses the request if its ``Idempotency-Key`` was fenced by a
   compensation (:mod:`services.common.fences`) — before anything else, so
   neither a late delivery nor a stale replay can revive a compensated step,
4. replays the stored answer if the key was seen before
   (or rejects the key if it was used for a different request),
5. otherwise runs the effect and stores its answer under the key,
6. commits — effect and stored answer together.

:meth:`MutationRunner.fence` runs a fence under the same lock and in the
same kind of transaction, so a request and the fence of its key are strictly
ordered: one of them sees the other.

Business-rule failures (``ServiceError`` raised by the effect, e.g. 402 or
409) are answers too: they are stored and replayed, with any writes the
effect made before raising rolled back. Unexpected exceptions roll back
everything and store nothing, so the retry runs afresh.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.fences import FenceOutcome, FenceStore, Undoer, fenced_error
from services.common.idempotency import IdempotencyStore, RequestIdentity, StoredAnswer, request_hash
from services.common.stats import ServiceStats

REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on answers served from the idempotency store."""

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
"""The header that carries a request's key, unless a service names another (:func:`services.common.keys.keyed_by`)."""


@dataclass(frozen=True)
class Outcome:
    """The answer a mutation produced: status code and JSON body."""

    status_code: int
    body: dict[str, Any]

    @classmethod
    def ok(cls, resource: BaseModel) -> Outcome:
        """200 with the resource as body."""
        return cls(200, resource.model_dump(mode="json"))

    @classmethod
    def created(cls, resource: BaseModel) -> Outcome:
        """201 with the new resource as body."""
        return cls(201, resource.model_dump(mode="json"))

    @classmethod
    def failed(cls, error: ServiceError) -> Outcome:
        """The answer for a business-rule failure."""
        return cls(error.status_code, error.body())


Effect = Callable[[], Outcome | Awaitable[Outcome]]
"""Applies a mutation through the service's store and says how to answer; may raise ServiceError. The services'
effects are synchronous; an awaiting one (tests/services/test_service_idempotency.py) relies on the lock."""


CONCURRENT_DUPLICATE_WINDOW_S = 0.3
"""Under the ``concurrent_duplicates`` misbehaviour: how long after its check of the stored answers a request runs."""


class MutationRunner:
    """Serialises a service's mutations and makes them idempotent. One per app.

    ``misbehaviour`` names a broken key handling switched on for `cadenza verify`'s tests (cadenza/faults.py); it
    answers None — the correct handling below — unless `PUT /admin/faults` asked otherwise."""

    def __init__(
        self, database: Database, stats: ServiceStats, misbehaviour: Callable[[], str | None] = lambda: None
    ) -> None:
        self._misbehaviour = misbehaviour
        self._database = database
        self._answers = IdempotencyStore(database)
        self._fences = FenceStore(database)
        self._stats = stats
        # The effects themselves are synchronous, so today nothing can
        # interleave; the lock keeps check-apply-store atomic even if an
        # effect ever awaits. GET routes never take it.
        self._lock = asyncio.Lock()

    async def run(
        self, key: str | None, request: RequestIdentity, effect: Effect, key_header: str = IDEMPOTENCY_KEY_HEADER
    ) -> JSONResponse:
        """Apply ``effect`` once for ``key`` (or unconditionally when there is no key); ``key_header`` names the
        header the key came in, for the messages."""
        misbehaviour = self._misbehaviour()
        if misbehaviour is not None:
            return await self._run_broken(misbehaviour, key, request, effect, key_header)
        async with self._lock:
            with self._database.transaction():
                if key is not None and (fence := self._fences.find(key)) is not None:
                    self._stats.fenced_requests += 1
                    raise fenced_error(key, fence, key_header)
                stored = self._answers.find(key) if key is not None else None
                if stored is not None:
                    return self._replay(key, stored, request, key_header)
                outcome = await self._apply(effect)
                if key is not None:
                    self._answers.save(key, request, outcome.status_code, outcome.body)
        return JSONResponse(outcome.body, status_code=outcome.status_code)

    async def _run_broken(
        self, misbehaviour: str, key: str | None, request: RequestIdentity, effect: Effect, key_header: str
    ) -> JSONResponse:
        """:meth:`run` as a library that gets keys wrong does it (cadenza/faults.py names each way)."""
        if misbehaviour == "ignore_keys":
            key = None
        if misbehaviour == "concurrent_duplicates" and key is not None:
            # Check, then act later without the lock: the gap real libraries leave between lookup and insert.
            with self._database.transaction():
                if (fence := self._fences.find(key)) is not None:
                    raise fenced_error(key, fence, key_header)
                stored = self._answers.find(key)
            if stored is not None:
                return self._replay(key, stored, request, key_header)
            await asyncio.sleep(CONCURRENT_DUPLICATE_WINDOW_S)
            async with self._lock:
                with self._database.transaction():
                    if (fence := self._fences.find(key)) is not None:
                        raise fenced_error(key, fence, key_header)
                    outcome = await self._apply(effect)
                    self._answers.save(key, request, outcome.status_code, outcome.body, replace=True)
            return JSONResponse(outcome.body, status_code=outcome.status_code)
        async with self._lock:
            with self._database.transaction():
                if key is not None and (fence := self._fences.find(key)) is not None:
                    raise fenced_error(key, fence, key_header)
                stored = self._answers.find(key) if key is not None else None
                if stored is not None and misbehaviour == "key_ignores_path":
                    stored = StoredAnswer(
                        RequestIdentity(stored.request.method, request.path, stored.request.request_hash),
                        stored.status_code,
                        stored.body,
                    )
                fresh = stored is not None and misbehaviour == "reuse_executes" and stored.request != request
                if stored is not None and not fresh:
                    return self._replay(key, stored, request, key_header)
                outcome = await self._apply(effect)
                refused = outcome.status_code >= 400 and misbehaviour == "replay_successes_only"
                if key is not None and not fresh and not refused:
                    self._answers.save(key, request, outcome.status_code, outcome.body)
        return JSONResponse(outcome.body, status_code=outcome.status_code)

    async def fence(self, key: str, undo: Undoer) -> tuple[FenceOutcome, bool]:
        """Fence ``key`` (undoing what its request did); returns the outcome and whether it is a repeat."""
        async with self._lock:
            with self._database.transaction():
                existing = self._fences.find(key)
                if existing is not None:
                    return existing, True
                # A ServiceError from `undo` (a key it cannot void) rolls the whole fence back.
                outcome = self._fences.fence(key, self._answers.find(key), undo)
        self._stats.fences += 1
        return outcome, False

    async def _apply(self, effect: Effect) -> Outcome:
        try:
            with self._database.savepoint():
                outcome = effect()
                return await outcome if inspect.isawaitable(outcome) else outcome
        except ServiceError as error:
            return Outcome.failed(error)

    def _replay(self, key: str | None, stored: StoredAnswer, request: RequestIdentity, key_header: str) -> JSONResponse:
        if stored.request != request:
            original = stored.request
            raise ServiceError(
                422,
                "idempotency_key_reuse",
                f"{key_header} {key!r} was already used for a different request "
                f"({original.method} {original.path} with another body); use a new key",
            )
        self._stats.idempotent_replays += 1
        return JSONResponse(stored.body, status_code=stored.status_code, headers={REPLAYED_HEADER: "true"})


class IdempotentMutation:
    """One incoming POST, ready to have its effect applied exactly once."""

    def __init__(
        self, runner: MutationRunner, key: str | None, method: str, path: str, key_header: str = IDEMPOTENCY_KEY_HEADER
    ) -> None:
        self._runner = runner
        self._key = key
        self._method = method
        self._path = path
        self._key_header = key_header

    async def apply(self, payload: BaseModel | None, effect: Effect) -> JSONResponse:
        """Run ``effect`` unless this key already has an answer; ``payload`` is the validated body."""
        body = None if payload is None else payload.model_dump(mode="json")
        identity = RequestIdentity(self._method, self._path, request_hash(body))
        return await self._runner.run(self._key, identity, effect, self._key_header)


def mutation_runner(request: Request) -> MutationRunner:
    """The app's runner, installed by :meth:`services.common.app_factory.ServiceDefinition.create_app`."""
    runner: MutationRunner = request.app.state.mutation_runner
    return runner
