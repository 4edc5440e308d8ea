"""The worker's HTTP plumbing: one `httpx.AsyncClient` shared by every activity, with a small connection pool per
service, explicit timeouts, bearer auth per service, and every non-success answer turned into a classified Temporal
error."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

import httpx
from opentelemetry import propagate
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from activities.connection_pool import CancelSafePool
from activities.errors import error_for_response, error_for_transport, error_for_unsendable
from cadenza.settings import ServiceEndpoint
from cadenza.telemetry import spans_recorded

# Each phase (pool wait, connect, write, read) has its own timeout, so on their own they add up to well past an
# attempt's 10 s start-to-close timeout (workflows/policies.py). HTTP_DEADLINE bounds the whole call below it, so a
# slow call fails as a retryable ServiceTimeout inside the attempt rather than as an opaque activity timeout while
# the abandoned request is still being sent. (A request already on the wire may still arrive later: the fences of
# services/common/fences.py, not timeouts, are what make that harmless.)
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
HTTP_DEADLINE = 8.0
HTTP_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)

# Each service gets a pool of its own, and a small one. httpcore re-examines every connection of a pool (a socket
# readability check for each idle one) whenever it queues a request or releases a response, so a pool's CPU cost per
# request grows with its size: one large shared pool costs the worker over twice the CPU per request of a few
# connections per service (docs/performance.md, "What each change did"). A few connections keep a service as busy as
# it gets; beyond that requests only wait in its accept queue instead of ours. Separate pools also keep a stalled
# service from starving the others.
CONNECTIONS_PER_SERVICE = httpx.Limits(max_connections=10, max_keepalive_connections=10)


def new_http_client(
    endpoints: Mapping[str, ServiceEndpoint] | None = None, *, traced: bool = True
) -> httpx.AsyncClient:
    """The one client a worker process uses for all downstream calls, traced: each call carries the activity
    attempt's trace context to the service (`traceparent`) and, when this process exports spans
    (cadenza.telemetry.spans_recorded), is a client span of its own under the attempt (`traced=False` only for the
    benchmark's untraced baseline). With `endpoints`, each service gets its own pool of `CONNECTIONS_PER_SERVICE`
    (environment proxies do not apply to those); anything else shares a default pool."""
    # Every pool is a CancelSafePool: the worker cancels requests as a matter of course (deadlines, timeouts,
    # shutdown), which can wedge a plain httpx pool for good (activities/connection_pool.py).
    per_service: dict[str, httpx.AsyncBaseTransport] = {
        _origin(endpoint.base_url): CancelSafePool(CONNECTIONS_PER_SERVICE, name=endpoint.name)
        for endpoint in (endpoints or {}).values()
    }
    client = httpx.AsyncClient(
        timeout=HTTP_TIMEOUT, transport=CancelSafePool(HTTP_LIMITS, name="default"), mounts=per_service
    )
    if traced and spans_recorded():
        HTTPXClientInstrumentor.instrument_client(client)
    elif traced:
        # The instrumentation's span, which nobody would export, is most of the cost of tracing a call; injecting the
        # context alone is a fraction of it, and the context is what keeps the service's own spans in the order's trace.
        client.event_hooks["request"].append(_propagate_trace_context)
    return client


async def _propagate_trace_context(request: httpx.Request) -> None:
    """Put the current trace context (`traceparent`, `tracestate`, baggage) on an outgoing request."""
    propagate.inject(request.headers)


def _origin(base_url: str) -> str:
    """`http://erp:8101/api` -> `http://erp:8101`, the key httpx routes a request to a mounted transport by."""
    url = httpx.URL(base_url)
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


class ServiceClient:
    """Calls to one downstream API."""

    def __init__(self, http: httpx.AsyncClient, endpoint: ServiceEndpoint) -> None:
        self._http = http
        self._endpoint = endpoint
        self._auth = endpoint.auth_headers

    @property
    def name(self) -> str:
        return self._endpoint.name

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        accept: Collection[int] = (),
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send a request; return the response if it is 2xx or in `accept`, else raise the classified error.
        `headers` are sent as well (a declared saga's, its key among them under the header its API takes)."""
        headers = {**(headers or {}), **self._auth}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            async with asyncio.timeout(HTTP_DEADLINE):
                response = await self._http.request(
                    method, self._endpoint.base_url + path, json=json, params=params, headers=headers
                )
        except httpx.TransportError as err:
            raise error_for_transport(self.name, err) from None
        except (UnicodeEncodeError, httpx.InvalidURL) as err:
            raise error_for_unsendable(self.name, err) from None
        except TimeoutError:
            raise error_for_transport(
                self.name, httpx.TimeoutException(f"no answer within {HTTP_DEADLINE:g} s")
            ) from None
        if response.is_success or response.status_code in accept:
            return response
        raise error_for_response(self.name, response)

    async def post(
        self, path: str, body: Mapping[str, Any] | None, *, idempotency_key: str, **kwargs: Any
    ) -> httpx.Response:
        # Every mutating call carries a key: there is deliberately no way to POST without one.
        return await self.request("POST", path, json=body, idempotency_key=idempotency_key, **kwargs)

    async def fence(self, key: str, *, idempotency_key: str) -> dict[str, Any]:
        """`POST /fences` for the request with `key` (services/common/fences.py). A fence is idempotent by the key it
        fences; it carries a key of its own like every mutating call, which the service accepts and ignores."""
        fence: dict[str, Any] = (await self.post("/fences", {"key": key}, idempotency_key=idempotency_key)).json()
        return fence

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = (await self.request("GET", path, params=params)).json()
        return body


class ServiceClients:
    """The three downstream APIs, sharing one connection pool."""

    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint]) -> None:
        self.erp = ServiceClient(http, endpoints["erp"])
        self.payment = ServiceClient(http, endpoints["payment"])
        self.inventory = ServiceClient(http, endpoints["inventory"])
