"""The worker's HTTP plumbing: one pooled `httpx.AsyncClient` shared by every activity, explicit timeouts, bearer
auth per service, and every non-success answer turned into a classified Temporal error."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import httpx
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

from activities.errors import error_for_response, error_for_transport
from cadenza.settings import ServiceEndpoint

# Well under each step's start-to-close timeout (workflows/policies.py), so a hung call fails as a retryable
# ServiceTimeout inside the attempt rather than as an opaque activity timeout.
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
HTTP_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50)


def new_http_client() -> httpx.AsyncClient:
    """The one client a worker process uses for all downstream calls (connection pooling, keep-alive), traced:
    each call is a client span under its activity attempt, and carries `traceparent` to the service."""
    client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, limits=HTTP_LIMITS)
    HTTPXClientInstrumentor.instrument_client(client)
    return client


class ServiceClient:
    """Calls to one downstream API."""

    def __init__(self, http: httpx.AsyncClient, endpoint: ServiceEndpoint) -> None:
        self._http = http
        self._endpoint = endpoint
        self._auth = {"Authorization": f"Bearer {endpoint.token}"}

    @property
    def name(self) -> str:
        return self._endpoint.name

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        """Send a request; return the response if it is 2xx or in `accept`, else raise the classified error."""
        headers = dict(self._auth)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self._http.request(
                method, self._endpoint.base_url + path, json=json, params=params, headers=headers
            )
        except httpx.TransportError as err:
            raise error_for_transport(self.name, err) from None
        if response.is_success or response.status_code in accept:
            return response
        raise error_for_response(self.name, response)

    async def post(self, path: str, body: Mapping[str, Any] | None, *, idempotency_key: str, **kwargs: Any) -> httpx.Response:
        # Every mutating call carries a key: there is deliberately no way to POST without one.
        return await self.request("POST", path, json=body, idempotency_key=idempotency_key, **kwargs)

    async def get_json(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return (await self.request("GET", path, params=params)).json()


class ServiceClients:
    """The three downstream APIs, sharing one connection pool."""

    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint]) -> None:
        self.erp = ServiceClient(http, endpoints["erp"])
        self.payment = ServiceClient(http, endpoints["payment"])
        self.inventory = ServiceClient(http, endpoints["inventory"])
