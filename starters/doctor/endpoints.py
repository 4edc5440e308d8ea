"""The HTTP checks: the three services (with their tokens), the Order API and the codec server."""

from __future__ import annotations

import os

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.converter import DataConverter

from cadenza.connection import configured_namespace
from cadenza.settings import SERVICE_NAMES, ServiceTokenMissing, api_port, codec_port, service_endpoint, settings
from starters.doctor.keys import SAMPLE
from starters.doctor.model import Check, Context, Outcome, failed, passed, warned

API_URL_ENV = "CADENZA_API_URL"
CODEC_URL_ENV = "CADENZA_CODEC_URL"
CODEC_AUTH_ENV = "TEMPORAL_CODEC_AUTH"
"""The `temporal` CLI's variable for `--codec-auth` (the whole Authorization header): doctor sends it too."""

# A cheap read behind each service's token: 200 proves the token, 401 that it is the wrong one.
_AUTHENTICATED_READ = {"erp": "/orders?limit=1", "payment": "/charges?limit=1", "inventory": "/stock"}


def api_url() -> str:
    return (settings().api_url or f"http://localhost:{api_port() or 8100}").rstrip("/")


def codec_url() -> str:
    return (settings().codec_url or f"http://localhost:{codec_port() or 8234}").rstrip("/")


def _down(what: str, url: str, err: httpx.HTTPError, start: str, variable: str) -> Outcome:
    return failed(
        f"{what} at {url} does not answer ({type(err).__name__}: {err or 'no answer'})",
        f"Start it: {start} (or `cadenza up`), or set {variable} to where it runs",
    )


def service_check(name: str) -> Check:
    upper = name.upper()

    async def run(ctx: Context) -> Outcome:
        try:
            endpoint = service_endpoint(name)
        except ServiceTokenMissing as missing:  # what a worker would refuse to start on: a row, not a crash
            return failed(
                str(missing), f"Set CADENZA_{upper}_TOKEN (or CADENZA_SERVICE_TOKEN) to the token the service accepts"
            )
        try:
            health = await ctx.http.get(f"{endpoint.base_url}/health")
            read = await ctx.http.get(f"{endpoint.base_url}{_AUTHENTICATED_READ[name]}", headers=endpoint.auth_headers)
        except httpx.HTTPError as err:
            return _down(name, endpoint.base_url, err, "`cadenza services`", f"CADENZA_{upper}_URL")
        if health.status_code != 200:
            return failed(
                f"{endpoint.base_url}/health answered {health.status_code}: {health.text[:200]}",
                f"See the {name} service's log (`cadenza up`: .cadenza/logs/{name}.log)",
            )
        if read.status_code in (401, 403):
            return failed(
                f"{endpoint.base_url} is up but refuses this token ({read.status_code})",
                f"Set CADENZA_{upper}_TOKEN (or CADENZA_SERVICE_TOKEN) to the token the service was "
                "started with (`--token`)",
            )
        if read.status_code != 200:
            return failed(
                f"GET {_AUTHENTICATED_READ[name]} answered {read.status_code}: {read.text[:200]}",
                f"See the {name} service's log",
            )
        return passed(f"{endpoint.base_url} · healthy · token accepted")

    return Check(name, run, on_timeout=f"Check that CADENZA_{upper}_URL points at the {name} service")


async def order_api(ctx: Context) -> Outcome:
    url = api_url()
    try:
        await ctx.http.get(f"{url}/healthz")
        ready = await ctx.http.get(f"{url}/readyz")
    except httpx.HTTPError as err:
        return _down("the Order API", url, err, "`cadenza api`", API_URL_ENV)
    if ready.status_code != 200:
        detail = ready.json().get("detail", ready.text) if _is_json(ready) else ready.text[:200]
        return failed(
            f"{url}/readyz answered {ready.status_code}: {detail}",
            "Fix what the detail names (the API connects with its own TEMPORAL_* settings); its log says more",
        )
    return passed(f"{url} · ready ({ready.json().get('detail', '')})")


async def codec_server(ctx: Context) -> Outcome:
    url = codec_url()
    try:
        await ctx.http.get(f"{url}/healthz")
    except httpx.HTTPError as err:
        return _down("the codec server", url, err, "`cadenza codec-server`", CODEC_URL_ENV)
    if ctx.sample is None:
        return passed(f"{url} · reachable (no keys here to test its decryption with)")
    # The server must decrypt what this process's keys encrypt: otherwise the Web UI shows orders as ciphertext.
    # The sample is bound to this process's namespace (cadenza.codec): the server decrypts it for that one only.
    headers = {"X-Namespace": configured_namespace()}
    if os.environ.get(CODEC_AUTH_ENV):
        headers["Authorization"] = os.environ[CODEC_AUTH_ENV]
    body = {"payloads": [json_format.MessageToDict(ctx.sample)]}
    try:
        answer = await ctx.http.post(f"{url}/decode", json=body, headers=headers)
    except httpx.HTTPError as err:
        return _down("the codec server", url, err, "`cadenza codec-server`", CODEC_URL_ENV)
    if answer.status_code in (401, 403):
        return warned(
            f"{url} · reachable; /decode needs a token, so its keys were not checked",
            f"Set {CODEC_AUTH_ENV}='Bearer <token>' (as for `temporal --codec-auth`) to check them",
        )
    if not _decrypted(answer):
        return failed(
            f"{url} cannot decrypt this process's payloads: /decode answered {answer.status_code} {answer.text[:200]}",
            "Give the codec server the workers' keys (CADENZA_ENCRYPTION_KEYS or CADENZA_ENCRYPTION_KEYS_FILE)",
        )
    return passed(f"{url} · decrypts this process's payloads")


def _decrypted(answer: httpx.Response) -> bool:
    """Whether the codec server gave back the sample in clear."""
    if answer.status_code != 200 or not _is_json(answer):
        return False
    payloads = json_format.ParseDict(answer.json(), Payloads()).payloads
    try:
        return len(payloads) == 1 and DataConverter.default.payload_converter.from_payload(payloads[0], dict) == SAMPLE
    except Exception:  # noqa: BLE001 - still ciphertext, or anything else that is not the sample
        return False


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


CHECKS = [
    *(service_check(name) for name in SERVICE_NAMES),
    Check("Order API", order_api, on_timeout=f"Check that {API_URL_ENV} points at the Order API"),
    Check("codec server", codec_server, on_timeout=f"Check that {CODEC_URL_ENV} points at the codec server"),
]
