"""The one generic activity of declared sagas (workflows/declared_saga.py): send a rendered request to a service, and
let the step's declared outcomes say what its answer means.

Registered under the three names of workflows/activity_types.py (`call_operation`, `undo_operation`,
`complete_operation`) so that each use has its own options; the body is the same. The workflow renders everything:
this side adds the service's base URL and token (by the call's `service` name, cadenza.settings) and the idempotency
key in the header the operation takes. `saga_first_attempts` makes the first attempts of a run's first steps in one
local activity, rendering each step's call as the workflow does and sending it as `call_operation` does
(activities/first_attempts.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import error_for_outcome
from activities.first_attempts import make_saga_first_attempts
from activities.http import ServiceClient
from cadenza import failure_types
from cadenza.settings import ServiceEndpoint, service_endpoint
from workflows import activity_types
from workflows.at_most_once import not_applied
from workflows.first_attempts import FirstAttemptsDone
from workflows.saga_definition import Outcome
from workflows.saga_run_models import OperationAnswer, OperationCall, SagaFirstAttempts

# What a saga may want of an answer besides its body: where a created resource lives, and whether the service replayed
# a stored answer for the key (both spellings seen in the wild).
HEADERS_OF_INTEREST = ("location", "retry-after", "idempotent-replayed", "idempotency-replayed")
EVERY_STATUS = range(100, 600)
OUTCOME_UNKNOWN = failure_types.OUTCOME_UNKNOWN


class OperationCalls:
    """The generic activity, bound to the worker's shared HTTP client and its service endpoints."""

    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint]) -> None:
        self._http = http
        self._endpoints = dict(endpoints)
        self._clients: dict[str, ServiceClient] = {}

    def _client(self, service: str) -> ServiceClient:
        client = self._clients.get(service)
        if client is None:
            # A service the worker was not given: CADENZA_<NAME>_URL / _TOKEN (or the embedded stack's port).
            endpoint = self._endpoints.get(service) or service_endpoint(service)
            client = self._clients[service] = ServiceClient(self._http, endpoint)
        return client

    async def call(self, request: OperationCall) -> OperationAnswer:
        """Send `request`; return the answer when its outcome is ok, else raise the error its outcome says: final →
        non-retryable, retry_after → retried after the answer's Retry-After, retry → retried.

        A replay-unsafe call (its API's profile) raises a retryable error only for a failure that applied nothing —
        an answer its outcomes retry (a 503, a 429), a connection never made — marked so (`not_applied`): the
        workflow sends the request again only after those (workflows/at_most_once.py). A timeout or a connection lost
        after sending may have come after the request was applied: final, `OutcomeUnknown`."""
        if not request.replay_unsafe:
            return await self._send(request)
        try:
            return await self._send(request)
        except ApplicationError as err:
            if err.non_retryable:
                raise
            if _maybe_applied(err):
                raise _outcome_unknown(request, err.message) from None
            raise not_applied(err) from None
        # Anything else (a bug, a body that fails to decode) reaches the workflow unmarked: OutcomeUnknown there.

    async def _send(self, request: OperationCall) -> OperationAnswer:
        client = self._client(request.service)
        headers = dict(request.headers)
        if request.key_header and request.key:
            headers[request.key_header] = request.key
        response = await client.request(
            request.method,
            request.path,
            json=request.body,
            params=request.query or None,
            headers=headers,
            accept=EVERY_STATUS,
        )
        outcome = request.outcomes.classify(response.status_code)
        if outcome is not Outcome.OK:
            raise error_for_outcome(f"{request.service}.{request.operation}", response, outcome)
        return OperationAnswer(
            status=response.status_code,
            body=_json(response),
            headers={name: response.headers[name] for name in HEADERS_OF_INTEREST if name in response.headers},
        )

    @activity.defn(name=activity_types.CALL_OPERATION.name)
    async def call_operation(self, request: OperationCall) -> OperationAnswer:
        return await self.call(request)

    @activity.defn(name=activity_types.UNDO_OPERATION.name)
    async def undo_operation(self, request: OperationCall) -> OperationAnswer:
        return await self.call(request)

    @activity.defn(name=activity_types.COMPLETE_OPERATION.name)
    async def complete_operation(self, request: OperationCall) -> OperationAnswer:
        return await self.call(request)

    @activity.defn(name=activity_types.SAGA_FIRST_ATTEMPTS.name)
    async def saga_first_attempts(self, batch: SagaFirstAttempts) -> FirstAttemptsDone:
        """The first attempts of a run's first steps in one local activity, each sent as `call_operation` sends it
        (workflows/first_attempts.py)."""
        return await make_saga_first_attempts(batch, self.call)

    def all(self) -> list[Callable[..., Any]]:
        return [self.call_operation, self.undo_operation, self.complete_operation, self.saga_first_attempts]


def _outcome_unknown(request: OperationCall, what: str) -> ApplicationError:
    return ApplicationError(
        f"{request.describe()}: {what}; the request may have been applied and the API does not replay it safely (its "
        "idempotency profile): not retried",
        type=OUTCOME_UNKNOWN,
        non_retryable=True,
    )


def _maybe_applied(err: ApplicationError) -> bool:
    """Whether a transport failure may have reached the service: anything but a connection never made."""
    if err.type not in (failure_types.SERVICE_TIMEOUT, failure_types.SERVICE_UNREACHABLE):
        return False
    # activities/http.py raises the classified error from the transport error (context kept, cause hidden).
    return not isinstance(err.__context__, httpx.ConnectError | httpx.ConnectTimeout)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
