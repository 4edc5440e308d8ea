"""Steering the services' fault injection at run time (their `/admin/faults` endpoint)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from cadenza.settings import ServiceEndpoint, service_endpoint


class FaultAdmin:
    def __init__(self, http: httpx.AsyncClient, endpoints: Mapping[str, ServiceEndpoint] | None = None) -> None:
        """`endpoints` by service name; without them, each service's as configured (the travel services' too)."""
        self._http = http
        self._endpoints = endpoints

    async def _call(self, method: str, service: str, path: str, body: Any = None) -> dict[str, Any]:
        endpoint = service_endpoint(service) if self._endpoints is None else self._endpoints[service]
        response = await self._http.request(method, endpoint.base_url + path, json=body, headers=endpoint.auth_headers)
        response.raise_for_status()
        return response.json()

    async def get(self, service: str) -> dict[str, Any]:
        return await self._call("GET", service, "/admin/faults")

    async def set(self, service: str, config: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", service, "/admin/faults", dict(config))

    async def stats(self, service: str) -> dict[str, Any]:
        return await self._call("GET", service, "/admin/stats")

    async def script(self, service: str, kind: str, *, times: int, match: str) -> None:
        """Make the next `times` requests whose idempotency key or path contains `match` fail with `kind`,
        keeping whatever else is configured."""
        config = await self.get(service)
        config["script"] = [*config.get("script", []), {"kind": kind, "times": times, "match": match}]
        await self.set(service, config)

    async def unscript(self, service: str, match: str) -> None:
        """Drop whatever is left of the scripted faults for `match` (a scenario that ended before consuming them)."""
        config = await self.get(service)
        config["script"] = [entry for entry in config.get("script", []) if entry.get("match") != match]
        await self.set(service, config)
