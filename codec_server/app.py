"""The codec server's HTTP surface: `create_codec_app(codec, settings)` for a `NamespacedCodec`, and `serve()`.

Order of the layers, outermost first: the Host check (a name this server does not go by is refused before anything
else, cadenza.trusted_hosts), CORS (so that even a refusal reaches the Web UI as something it may read), the body-size
limit, then the routes; each route authorises first and only then touches the codec, through its view for the
namespace the caller is allowed (a payload bound to another namespace is refused there, before any key is used).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

from fastapi import Depends, FastAPI, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from temporalio.converter import PayloadCodec

from cadenza.codec import EncryptionCodec, KeyRing, NamespaceMismatch, UnboundPayloadRefused, unbound_accepted
from cadenza.connection import configured_namespace
from cadenza.errors import CadenzaError
from cadenza.http_middleware import BodyLimit, RequestId
from cadenza.problems import PROBLEM_JSON, Problem, ProblemDetails, install_problem_handlers
from cadenza.processes import ensure_port_free
from cadenza.trusted_hosts import TrustedHosts
from codec_server.access import Action, Authenticator, AuthUnavailable, Caller, Unauthenticated
from codec_server.payloads import MalformedPayloads, Payloads, parse_payloads, render_payloads
from codec_server.settings import ALLOWED_HOSTS_ENV, CodecServerSettings, check_exposure

# The Web UI decodes a whole history page per request; Temporal's own limit is 2 MB per payload.
MAX_BODY_BYTES = 16 * 1024 * 1024
ALLOWED_HEADERS = ["Content-Type", "X-Namespace", "Authorization"]
_log = logging.getLogger("cadenza.codec_server")

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="CodecToken",
    description="A static token from CADENZA_CODEC_TOKENS, or a JWT from the configured OIDC issuer, sent as "
    "`Authorization: Bearer <token>`. Decoding needs the grant `<namespace>:read`, encoding `<namespace>:write`.",
)
Namespace = Annotated[
    str,
    Header(
        alias="X-Namespace",
        description="The Temporal namespace the payloads belong to (the Web UI and `temporal` send it): /encode binds "
        "the payloads to it, /decode decrypts only payloads bound to it. Required when the server checks tokens; on an "
        "unauthenticated loopback server it defaults to the server's own namespace (TEMPORAL_NAMESPACE).",
    ),
]


class NamespacedCodec(Protocol):
    """A payload codec that can be narrowed to the payloads of one namespace (cadenza.codec.EncryptionCodec)."""

    namespace: str

    def for_namespace(self, namespace: str) -> PayloadCodec: ...


@dataclass(frozen=True)
class Access:
    """Who calls (None on an unauthenticated server) and the namespace whose payloads the call may touch."""

    caller: Caller | None
    namespace: str


Guard = Callable[..., Awaitable[Access]]


class Health(BaseModel):
    status: str


def create_codec_app(codec: NamespacedCodec, settings: CodecServerSettings) -> FastAPI:
    """The codec server for `codec` (what the workers use) under `settings` (origins, tokens, OIDC issuer, names).
    A call without X-Namespace (allowed on an unauthenticated server only) uses `codec.namespace`."""
    authenticator = settings.authenticator()
    app = FastAPI(
        title="Cadenza codec server",
        version="1.0.0",
        description=(
            "Decodes and encodes Temporal payloads with Cadenza's payload codec, for the Temporal Web UI "
            "(`--ui-codec-endpoint`) and the `temporal` CLI (`--codec-endpoint`). Bodies are Temporal's JSON payload "
            "format. "
            + (
                "Every call needs `Authorization: Bearer <token>` and `X-Namespace`."
                if authenticator
                else "This server runs without authentication: it answers on loopback only."
            )
        ),
    )
    install_problem_handlers(app)
    refusals = (400, 403, 413, 421, *((401,) if authenticator else ()), *((503,) if settings.oidc else ()))
    guard = _guard_with_auth(authenticator) if authenticator else _guard_without_auth(codec.namespace)

    def route(action: Action, verb: Literal["decode", "encode"]) -> None:
        @app.post(
            f"/{verb}",
            summary=f"{verb.capitalize()} payloads" + (f" (needs <namespace>:{action})" if authenticator else ""),
            response_model=Payloads,
            response_description=f"The payloads, {verb}d, in the order given",
            responses={status: {"model": ProblemDetails, "description": _REFUSALS[status]} for status in refusals},
            openapi_extra=_JSON_BODY,
            operation_id=verb,
        )
        async def handler(request: Request, access: Access = Depends(guard(action))) -> Any:  # noqa: B008
            try:
                payloads = parse_payloads(await request.body())
            except MalformedPayloads as err:
                raise Problem(400, "Malformed payloads", str(err)) from None
            try:
                result = await getattr(codec.for_namespace(access.namespace), verb)(payloads)
            except (NamespaceMismatch, UnboundPayloadRefused) as err:
                _log.warning("refused to %s for namespace %r: %s", verb, access.namespace, err)
                raise Problem(403, "Not a payload of this namespace", str(err)) from None
            except Exception as err:  # noqa: BLE001 - whatever the codec rejects came from the caller's payloads
                _log.info("could not %s %d payloads: %r", verb, len(payloads), err)
                raise Problem(400, f"Payloads could not be {verb}d", f"{type(err).__name__}: {err}") from None
            if access.caller is not None:
                _log.info("%s: %d payloads of %s for %s", verb, len(payloads), access.namespace, access.caller.name)
            return JSONResponse(render_payloads(result))

    route("read", "decode")
    route("write", "encode")

    @app.get("/healthz", summary="The process is alive (needs no token)", operation_id="healthz")
    async def healthz() -> Health:
        return Health(status="ok")

    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestId)  # names each call in the log, and the 500 answer (if ever) refers to it
    # allow_credentials: the Web UI's "include cross-origin credentials" codec setting needs it; origins are explicit.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.origins),
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
        max_age=600,
    )
    # Outermost: a page that re-points its domain here is refused before CORS, which it would not need.
    app.add_middleware(
        TrustedHosts,
        names=settings.allowed_hosts,
        open_paths=("/healthz",),
        next_step=f"Call it as localhost or by address, or add the name to {ALLOWED_HOSTS_ENV}.",
    )
    app.openapi = _exact_openapi(app, namespace_required=authenticator is not None)  # type: ignore[method-assign]
    return app


_REFUSALS = {
    400: "The body is not Temporal's JSON payload format, the codec refused a payload, or X-Namespace is missing",
    401: "No token, or one that is unknown, badly signed, expired or for another audience",
    403: "The token lacks the grant <namespace>:read (decode) or <namespace>:write (encode), or a payload is bound to "
    "another namespace than X-Namespace (or to none, where CADENZA_ENCRYPTION_UNBOUND=refuse)",
    413: f"The body is larger than {MAX_BODY_BYTES // 2**20} MiB",
    421: "The Host header names neither localhost, an IP address nor one of CADENZA_CODEC_ALLOWED_HOSTS",
    503: "The OIDC issuer's keys cannot be fetched right now; retry",
}
# The routes parse the body themselves (malformed → 400, not FastAPI's 422), so the document names it here.
_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Payloads"}}},
    }
}


def _exact_openapi(app: FastAPI, *, namespace_required: bool) -> Callable[[], dict[str, Any]]:
    """FastAPI's document, made to say what this app does: no 422 (FastAPI adds it to routes with parameters; the
    routes answer 400), refusals as `application/problem+json`, and X-Namespace required where tokens are checked
    (declared optional in code so that its absence is this app's 400, not FastAPI's 422)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for operation in (op for path in document["paths"].values() for op in path.values()):
            operation["responses"].pop("422", None)
            for status, response in operation["responses"].items():
                if status != "200":
                    response["content"] = {PROBLEM_JSON: response["content"]["application/json"]}
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "X-Namespace" and namespace_required:
                    parameter["required"] = True
                    parameter["schema"].pop("default", None)
                    parameter["schema"]["minLength"] = 1
        for unused in ("HTTPValidationError", "ValidationError"):
            document["components"]["schemas"].pop(unused, None)
        app.openapi_schema = document
        return document

    return openapi


def _guard_without_auth(default_namespace: str) -> Callable[[Action], Guard]:
    def guard(action: Action) -> Guard:
        async def open_access(namespace: Namespace = "") -> Access:
            return Access(None, namespace or default_namespace)

        return open_access

    return guard


def _guard_with_auth(authenticator: Authenticator) -> Callable[[Action], Guard]:
    def guard(action: Action) -> Guard:
        async def authorised(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            namespace: Namespace = "",
        ) -> Access:
            if credentials is None:
                raise _unauthorised(
                    "Send 'Authorization: Bearer <token>' (Web UI: codec settings, \"pass access "
                    "token\"; temporal CLI: --codec-auth 'Bearer <token>')."
                )
            try:
                caller = await authenticator.caller(credentials.credentials)
            except Unauthenticated as err:
                raise _unauthorised(f"{str(err)[:300]}.") from None
            except AuthUnavailable as err:
                _log.warning("%s", err)
                raise Problem(
                    503, "Cannot check tokens right now", f"{err}. Retry shortly.", headers={"Retry-After": "5"}
                ) from None
            request.state.caller = caller.name  # for the access log: a JWT's subject or a token's hash prefix
            if not namespace:
                raise Problem(400, "X-Namespace missing", "Name the Temporal namespace in the X-Namespace header.")
            if not caller.may(action, namespace):
                raise Problem(
                    403,
                    "Not allowed for this namespace",
                    f"{caller.name} may not {action} payloads of namespace {namespace!r}: this needs the grant "
                    f"{namespace}:{action}.",
                    headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{namespace}:{action}"'},
                )
            return Access(caller, namespace)

        return authorised

    return guard


def _unauthorised(detail: str) -> Problem:
    return Problem(401, "Missing or invalid token", detail, headers={"WWW-Authenticate": "Bearer"})


def default_codec() -> EncryptionCodec:
    """The codec Cadenza's workers use, with the keys from the environment — what `cadenza codec-server` serves — for
    the namespace of this process (TEMPORAL_NAMESPACE), which calls without X-Namespace read."""
    ring = KeyRing.from_environment()
    if ring is None:
        raise CodecUnavailable(
            "No encryption keys: set CADENZA_ENCRYPTION_KEYS or CADENZA_ENCRYPTION_KEYS_FILE to the keys the workers "
            "use (docs/encryption.md), or CADENZA_STATE_DIR to the embedded stack's state folder."
        )
    return EncryptionCodec(ring, namespace=configured_namespace(), accept_unbound=unbound_accepted())


class CodecUnavailable(CadenzaError, RuntimeError):
    """The payload codec could not be loaded; the message says what to do."""


def serve(
    host: str, port: int, *, settings: CodecServerSettings | None = None, codec: NamespacedCodec | None = None
) -> None:
    """Run the codec server under uvicorn until interrupted (`cadenza codec-server`, `python -m codec_server`).
    Checks the exposure rule before loading any key."""
    import uvicorn

    settings = settings or CodecServerSettings.from_environment()
    check_exposure(host, settings)
    app = create_codec_app(codec or default_codec(), settings)
    ensure_port_free(host, port, "codec server")  # after the keys and the exposure rule: those are said first
    _log.info("codec server on http://%s:%d: the Web UI and `temporal --codec-endpoint` decode through it", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
