"""The codec server's settings, from the environment, and the rule that keeps it from being exposed unprotected.

| variable | meaning |
| --- | --- |
| `CADENZA_CODEC_PORT` | port (default 8234; `cadenza up` serves it there, 0 = not at all): `cadenza.settings.codec_port` |
| `CADENZA_CODEC_CORS_ORIGINS` | comma-separated Web UI origins (default `http://localhost:<ui>,http://127.0.0.1:<ui>`, ui = `CADENZA_TEMPORAL_UI_PORT`, 8233) |
| `CADENZA_CODEC_ALLOWED_HOSTS` | comma-separated names clients call the server by, besides `localhost` and IP addresses (`cadenza.trusted_hosts`); required beyond loopback |
| `CADENZA_CODEC_TOKENS` | static bearer tokens with grants (`codec_server.access`) |
| `CADENZA_CODEC_OIDC_ISSUER`, `…_AUDIENCE`, `…_JWKS_URL` | JWTs of an OIDC issuer; all three together |
| `CADENZA_CODEC_OIDC_PERMISSIONS_CLAIM` | the claim holding the grants (default `permissions`) |
"""  # noqa: E501 - a table row cannot wrap

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cadenza.errors import InvalidInput
from cadenza.settings import Settings, dev_server_ports, load_settings, settings
from codec_server.access import Authenticator, InvalidAccessSettings, OidcSettings, OidcVerifier, StaticTokens

_OIDC = ("CADENZA_CODEC_OIDC_ISSUER", "CADENZA_CODEC_OIDC_AUDIENCE", "CADENZA_CODEC_OIDC_JWKS_URL")


ALLOWED_HOSTS_ENV = "CADENZA_CODEC_ALLOWED_HOSTS"
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


class InsecureBinding(InvalidInput, RuntimeError):
    """Asked to listen beyond loopback with no authentication, or no host names, configured."""


@dataclass(frozen=True)
class CodecServerSettings:
    origins: tuple[str, ...]
    """Browser origins (the Web UI's) allowed to call the server."""
    tokens: StaticTokens | None = None
    oidc: OidcSettings | None = None
    allowed_hosts: tuple[str, ...] = ()
    """Names clients call the server by (an ingress's, a Service's), besides `localhost` and IP addresses."""

    def __post_init__(self) -> None:
        if "*" in self.origins:
            # Any web page the user visits could then read decrypted payloads from a codec server on localhost.
            raise InvalidAccessSettings("CADENZA_CODEC_CORS_ORIGINS must list the Web UI's origins; * is refused")
        bad = [name for name in self.allowed_hosts if not _HOST_NAME.fullmatch(name)]
        if bad:
            # A wildcard would let any rebinding domain through: the names are the whole defence.
            raise InvalidAccessSettings(
                f"{ALLOWED_HOSTS_ENV}: {', '.join(map(repr, bad))} is not a host name; list names such as "
                "codec.example.com, without scheme, port or wildcard"
            )

    @property
    def requires_auth(self) -> bool:
        return self.tokens is not None or self.oidc is not None

    def authenticator(self) -> Authenticator | None:
        if not self.requires_auth:
            return None
        return Authenticator(self.tokens, OidcVerifier(self.oidc) if self.oidc is not None else None)

    @classmethod
    def for_web_ui(cls, ui_port: int, **auth: object) -> CodecServerSettings:
        return cls(origins=(f"http://localhost:{ui_port}", f"http://127.0.0.1:{ui_port}"), **auth)  # type: ignore[arg-type]

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> CodecServerSettings:
        """Settings from `CADENZA_CODEC_*`; `InvalidAccessSettings` says what to fix."""
        current = settings() if env is None else load_settings(env)
        default = cls.for_web_ui(dev_server_ports().ui)
        origins = tuple(o.strip().rstrip("/") for o in (current.codec_cors_origins or "").split(",") if o.strip())
        spec = current.get("CADENZA_CODEC_TOKENS")
        return cls(
            origins=origins or default.origins,
            tokens=StaticTokens.parse(spec) if spec else None,
            oidc=_oidc_settings(current),
            allowed_hosts=tuple(
                name.strip().lower() for name in (current.codec_allowed_hosts or "").split(",") if name.strip()
            ),
        )


def check_exposure(host: str, settings: CodecServerSettings) -> None:
    """Refuse to serve decrypted data beyond this machine without authentication, or without the names it answers to
    (every other name is refused, and the Web UI and other clients call it by a name)."""
    if is_loopback(host):
        return
    if not settings.requires_auth:
        raise InsecureBinding(
            f"Refusing to serve the codec server on {host} without authentication: anyone who can reach it could read "
            "every order in clear. Listen on 127.0.0.1 (local development), or set CADENZA_CODEC_TOKENS "
            "(token=<namespace>:read,...) or CADENZA_CODEC_OIDC_ISSUER, CADENZA_CODEC_OIDC_AUDIENCE and "
            'CADENZA_CODEC_OIDC_JWKS_URL (docs/security.md, "Reading encrypted orders").'
        )
    if not settings.allowed_hosts:
        raise InsecureBinding(
            f"Refusing to serve the codec server on {host} without {ALLOWED_HOSTS_ENV}: it answers only to localhost, "
            "IP addresses and the names listed there (a defence against DNS rebinding), so the Web UI could not reach "
            f"it by name. Set {ALLOWED_HOSTS_ENV} to the names clients use, "
            "e.g. codec.example.com,cadenza-codec-server."
        )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name might resolve anywhere


def _oidc_settings(current: Settings) -> OidcSettings | None:
    values = [current.get(name) or "" for name in _OIDC]
    if not any(values):
        return None
    missing = [name for name, value in zip(_OIDC, values, strict=True) if not value]
    if missing:
        raise InvalidAccessSettings(f"OIDC needs {', '.join(_OIDC)} together; set {', '.join(missing)} too")
    issuer, audience, jwks_url = values
    claim = current.codec_oidc_permissions_claim
    return OidcSettings(issuer=issuer, audience=audience, jwks_url=jwks_url, permissions_claim=claim)
