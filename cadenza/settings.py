"""Every `CADENZA_*` setting, in one place: the `Settings` model, read from the environment and validated at once.

Defaults describe the embedded stack (`cadenza up`): Temporal dev server on 7233 with its Web UI on 8233, the three
simulated order services on 8101-8103 and the three travel services on 8104-8106. Each can be overridden by an
environment variable, which is how the same code runs against a Temporal cluster, Temporal Cloud or the docker-compose
topology. Temporal's own connection variables (`TEMPORAL_*`) are read by `temporalio.envconfig`
(cadenza.connection), OpenTelemetry's (`OTEL_*`) by OpenTelemetry.

Each process entry calls `settings()` first, so that a bad value of any variable stops it before it does anything,
with one message format naming the variable and what to set (`InvalidSetting`). Modules read their values from
`settings()` too; it reads the environment again only when a `CADENZA_*` variable changed (tests set them with
monkeypatch). The table in docs/operations.md is generated from the fields: `python -m cadenza.settings --write`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from cadenza.errors import InvalidInput

PREFIX = "CADENZA_"

# The Worker Deployment every Cadenza worker belongs to (docs/deploying.md, "Versioned rollouts"). One name per
# application, shared by all its builds; a name must not contain a dot (the SDK's `<deployment>.<build id>` form).
DEFAULT_DEPLOYMENT_NAME = "cadenza"

DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
DEFAULT_SERVICE_TOKEN = "cadenza-dev-token"

SERVICE_NAMES = ("erp", "payment", "inventory")
"""The services the order saga calls (and `cadenza audit`, chaos and the bench look at)."""
TRAVEL_SERVICE_NAMES = ("flight", "hotel", "car")
"""The second example domain's services (examples/sagas/): each with its own key header, undo and fence conventions."""
ALL_SERVICE_NAMES = SERVICE_NAMES + TRAVEL_SERVICE_NAMES


class InvalidSetting(InvalidInput):
    """A `CADENZA_*` variable holds a value its setting cannot take; the message names it and what to set. Process
    entries load the settings before anything else, so this is the first thing they can fail on."""


# --- the value kinds: how text becomes a value, and what the message says when it cannot ---------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([a-z]+)\s*$")
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
RATE_OFF = frozenset({"off", "none", "0"})


def _flag(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        if text not in _TRUE | _FALSE:
            raise ValueError("not on or off")
        return text in _TRUE
    return value


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `24h`, `2d`, or plain seconds, more than zero; ValueError otherwise."""
    match = _DURATION.match(text.lower())
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0
    if seconds <= 0:
        raise ValueError("not a positive duration")
    return timedelta(seconds=seconds)


def _duration(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


def parse_rate(text: str) -> float | None:
    """Requests per second of `50/s`, `3000/min`, `10/h`; None for `off` (no limit); ValueError otherwise."""
    if text.strip().lower() in RATE_OFF:
        return None
    match = _RATE.match(text.lower())
    if not match or match[2] not in _RATE_UNITS or float(match[1]) <= 0:
        raise ValueError("not a rate")
    return float(match[1]) / _RATE_UNITS[match[2]]


def default_burst(rate: float) -> int:
    """The bucket size when none is set: two seconds' worth, at least one request."""
    return max(1, math.ceil(2 * rate))


def _rate(value: object) -> object:
    if isinstance(value, str):
        parse_rate(value)
        return value.strip()
    return value


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _deployment_name(value: object) -> object:
    if isinstance(value, str) and "." in value:
        raise ValueError("contains a dot")
    return value


@dataclass(frozen=True)
class _Kind:
    expect: str
    """What the value is not, in `… is not <expect>`."""
    hint: str
    """What to set instead, in `set it to <hint>, or unset it`."""


_KINDS = {
    "port": _Kind("a port number", "a whole number from 0 to 65535 (0: none)"),
    "count": _Kind("a whole number, 1 or more", "e.g. 10"),
    "flag": _Kind("on or off", "1 or 0 (true/false, yes/no, on/off)"),
    "duration": _Kind("a positive duration", "e.g. 90s, 30m, 24h or 2d (seconds if no unit)"),
    "rate": _Kind("a rate", "requests per unit, e.g. 50/s or 3000/min, or off"),
    "name": _Kind("a name without a dot", "a name such as 'cadenza'"),
    "choice": _Kind("one of {choices}", "{choices}"),
}

Port = Annotated[int, Field(ge=0, le=65535)]
Count = Annotated[int, Field(ge=1)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Duration = Annotated[timedelta | None, BeforeValidator(_duration)]
Rate = Annotated[str, BeforeValidator(_rate)]
DeploymentName = Annotated[str, BeforeValidator(_deployment_name)]


def _setting(default: Any, doc: str, *, unit: str = "", kind: str = "", shown: str | None = None, see: str = "") -> Any:
    """A field: `doc` is its one line in the table, `unit` how its value is counted, `kind` (see _KINDS) what a bad
    value's message says, `shown` the default as the table shows it (when `default` alone would not say it)."""
    extra: dict[str, Any] = {"unit": unit, "kind": kind, "see": see}
    if shown is not None:
        extra["shown"] = shown
    return Field(default, description=doc, json_schema_extra=extra)


_environ: ContextVar[Mapping[str, str] | None] = ContextVar("cadenza_settings_environ", default=None)


class _EnvSource(EnvSettingsSource):
    """The environment, or the mapping `load_settings` was handed (the codec and codec-server helpers take one).
    Values are stripped, and one left empty counts as unset: `CADENZA_WEB_UI=` in a compose file means "not set"."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _environ.get()
        source = os.environ if environ is None else environ
        return {
            key.lower(): value.strip()
            for key, value in source.items()
            if key.upper().startswith(PREFIX) and value.strip()
        }


class Settings(BaseSettings):
    """Every `CADENZA_*` variable: the field `task_queue` is `CADENZA_TASK_QUEUE`."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, validate_default=False)

    # Where things run.
    task_queue: str = _setting("cadenza-orders", "task queue of workers and clients", unit="name")
    erp_url: str | None = _setting(
        None, "where the worker finds the ERP API", unit="URL", shown="`http://127.0.0.1:<CADENZA_ERP_PORT>`"
    )
    payment_url: str | None = _setting(
        None, "where the worker finds the payment API", unit="URL", shown="`http://127.0.0.1:<CADENZA_PAYMENT_PORT>`"
    )
    inventory_url: str | None = _setting(
        None,
        "where the worker finds the inventory API",
        unit="URL",
        shown="`http://127.0.0.1:<CADENZA_INVENTORY_PORT>`",
    )
    flight_url: str | None = _setting(
        None, "where the worker finds the flight API", unit="URL", shown="`http://127.0.0.1:<CADENZA_FLIGHT_PORT>`"
    )
    hotel_url: str | None = _setting(
        None, "where the worker finds the hotel API", unit="URL", shown="`http://127.0.0.1:<CADENZA_HOTEL_PORT>`"
    )
    car_url: str | None = _setting(
        None, "where the worker finds the car rental API", unit="URL", shown="`http://127.0.0.1:<CADENZA_CAR_PORT>`"
    )
    service_token: SecretStr | None = _setting(
        None,
        "bearer token for every simulated service (a secret: only in the worker's environment, never in history); with "
        "a service URL set and no token a process refuses to start, since the development token is public",
        unit="secret",
        shown="`cadenza-dev-token` for the embedded stack's own services only",
        see="security.md#secrets",
    )
    erp_token: SecretStr | None = _setting(
        None, "the ERP's own bearer token, instead of CADENZA_SERVICE_TOKEN", unit="secret"
    )
    payment_token: SecretStr | None = _setting(
        None, "the payment API's own bearer token, instead of CADENZA_SERVICE_TOKEN", unit="secret"
    )
    inventory_token: SecretStr | None = _setting(
        None, "the inventory API's own bearer token, instead of CADENZA_SERVICE_TOKEN", unit="secret"
    )
    flight_token: SecretStr | None = _setting(
        None, "the flight API's own bearer token, instead of CADENZA_SERVICE_TOKEN", unit="secret"
    )
    hotel_token: SecretStr | None = _setting(
        None, "the hotel API's own bearer token, instead of CADENZA_SERVICE_TOKEN", unit="secret"
    )
    car_token: SecretStr | None = _setting(
        None, "the car rental API's own bearer token, instead of CADENZA_SERVICE_TOKEN", unit="secret"
    )

    # The embedded stack (`cadenza up`).
    temporal_port: Port = _setting(7233, "the embedded dev server's port", unit="port", kind="port")
    temporal_ui_port: Port = _setting(8233, "the embedded dev server's Web UI port", unit="port", kind="port")
    erp_port: Port = _setting(8101, "the embedded ERP service's port", unit="port", kind="port")
    payment_port: Port = _setting(8102, "the embedded payment service's port", unit="port", kind="port")
    inventory_port: Port = _setting(8103, "the embedded inventory service's port", unit="port", kind="port")
    flight_port: Port = _setting(
        8104, "the embedded flight service's port (0: `cadenza up` runs no flight service)", unit="port", kind="port"
    )
    hotel_port: Port = _setting(
        8105, "the embedded hotel service's port (0: `cadenza up` runs no hotel service)", unit="port", kind="port"
    )
    car_port: Port = _setting(
        8106, "the embedded car rental service's port (0: `cadenza up` runs no car service)", unit="port", kind="port"
    )
    api_port: Port = _setting(
        8100, "where `cadenza up` and `cadenza api` serve the Order API (0: no API)", unit="port", kind="port"
    )
    codec_port: Port = _setting(
        8234,
        "where `cadenza up` and `cadenza codec-server` serve the codec server (0: none)",
        unit="port",
        kind="port",
    )
    sagas_dir: Path | None = _setting(
        None,
        "the folder of saga definitions (`*.yaml`) the API serves at /sagas/{name}/runs; each is linted when the API "
        "starts, and one with problems stops it",
        unit="path",
        shown="the shipped `examples/sagas`",
        see="your-own-apis.md",
    )
    state_dir: Path = _setting(
        Path(".cadenza"),
        "the embedded stack's SQLite files (Temporal history, each service), logs and development "
        "keys; the stack keeps it 0700 and its files 0600",
        unit="path",
        shown="`./.cadenza`",
    )
    temporal_embedded: Flag = _setting(
        False,
        "set by `cadenza up` for the processes it starts: they talk to its dev server and may use the "
        "development token and secrets",
        unit="on/off",
        kind="flag",
        shown="off",
    )
    free_port_slice: str | None = _setting(
        None,
        "set by the test suite's processes for themselves and the processes they start: the slice of the free-port "
        "range (20000-32000) they pick test and benchmark ports from, so that processes side by side never pick the "
        "same port",
        unit="index/count",
        shown="unset: the whole range",
    )
    web_ui: str | None = _setting(
        None,
        "base of the Web UI links the CLI prints",
        unit="URL",
        shown="`http://localhost:<CADENZA_TEMPORAL_UI_PORT>`",
    )
    faults_erp: str | None = _setting(
        None, "faults the simulated ERP injects (a FaultConfig as JSON; `cadenza faults`)", unit="JSON"
    )
    faults_payment: str | None = _setting(
        None, "faults the simulated payment service injects (a FaultConfig as JSON)", unit="JSON"
    )
    faults_inventory: str | None = _setting(
        None, "faults the simulated inventory service injects (a FaultConfig as JSON)", unit="JSON"
    )
    faults_flight: str | None = _setting(
        None, "faults the simulated flight service injects (a FaultConfig as JSON)", unit="JSON"
    )
    faults_hotel: str | None = _setting(
        None, "faults the simulated hotel service injects (a FaultConfig as JSON)", unit="JSON"
    )
    faults_car: str | None = _setting(
        None, "faults the simulated car rental service injects (a FaultConfig as JSON)", unit="JSON"
    )

    # The worker.
    metrics_port: Port | None = _setting(
        None,
        "a worker's `/metrics` (Prometheus), `/healthz` (alive) and `/readyz` (Temporal sees it polling); 0: off",
        unit="port",
        kind="port",
        shown="unset (`cadenza up`'s worker: 9464)",
    )
    metrics_host: str = _setting(
        "127.0.0.1",
        "where that port listens: loopback unless configured (compose: `0.0.0.0` inside its network; "
        "Kubernetes: the pod's IP)",
        unit="address",
    )
    deployment_name: DeploymentName = _setting(
        DEFAULT_DEPLOYMENT_NAME,
        "the Worker Deployment workers join (no dot in it)",
        unit="name",
        kind="name",
        see="deploying.md#versioned-rollouts-worker-versioning",
    )
    build_id: str | None = _setting(
        None,
        "the worker's build id in that deployment (images set the tag or commit)",
        unit="text",
        shown="`<version>-<git sha>`",
    )
    deploy_auto_promote: Flag = _setting(
        True,
        "a starting worker makes its version current when the deployment has none: for development, off in production",
        unit="on/off",
        kind="flag",
        shown="on",
    )
    log_format: Annotated[Literal["json", "text"], BeforeValidator(_lower)] = _setting(
        "json",
        "log lines: `json` (one object a line) or `text`",
        unit="choice",
        kind="choice",
    )
    debug: Flag = _setting(False, "a failing command prints its traceback too", unit="on/off", kind="flag", shown="off")

    # Payload encryption and decisions.
    encryption: Annotated[Literal["required", "optional", "off"], BeforeValidator(_lower)] = _setting(
        "optional",
        "`required`: refuse to start without keys, and workers refuse new unencrypted requests; "
        "`optional`: plain text (with a warning) without keys; `off`: benchmarks only",
        unit="choice",
        kind="choice",
        shown="`optional` (`required` in the embedded stack)",
        see="encryption.md#unencrypted-requests-are-refused",
    )
    encryption_keys: SecretStr | None = _setting(
        None,
        "payload encryption key lines, comma-separated, first one active",
        unit="secret",
        shown="the embedded stack's `<state dir>/encryption-keys`",
        see="encryption.md#keys",
    )
    encryption_keys_file: Path | None = _setting(
        None, "a file of encryption key lines, one a line (a mounted secret)", unit="path", see="encryption.md#keys"
    )
    encryption_unbound: Annotated[Literal["accept", "refuse"], BeforeValidator(_lower)] = _setting(
        "accept",
        "`refuse`: payloads written before namespaces were bound no longer decrypt",
        unit="choice",
        kind="choice",
        see="encryption.md#namespaces",
    )
    decision_keys: SecretStr | None = _setting(
        None,
        "key lines that sign review decisions and operators' retries, first one signs; workers, the Order API "
        "and whoever decides from the CLI need the same ones",
        unit="secret",
        shown="the embedded stack's `<state dir>/decision-keys`",
        see="security.md#decisions",
    )
    decision_keys_file: Path | None = _setting(
        None, "a file of decision key lines, one a line (a mounted secret)", unit="path"
    )
    review_deadline: Duration = _setting(
        None,
        "how long an order in `awaiting_review` waits for a decision, fixed per order when it is placed (else "
        "the worker's)",
        unit="duration",
        kind="duration",
        shown="`24h`",
        see="operations.md#manual-review-orders-that-wait-for-a-person",
    )

    # The Order API.
    api_keys_file: Path | None = _setting(
        None, "the API keys' JSON in a mounted secret", unit="path", shown="`<state dir>/api-keys.json`"
    )
    api_keys: SecretStr | None = _setting(None, "the API keys' JSON itself, instead of a file", unit="secret")
    api_rate_limit: Rate = _setting(
        "50/s", "requests a key may sustain, per API replica", unit="requests/unit", kind="rate"
    )
    api_rate_burst: Count | None = _setting(
        None, "requests a key may send at once", unit="requests", kind="count", shown="twice the rate per second"
    )
    api_anonymous_rate_limit: Rate = _setting(
        "5/s", "requests without a usable key, per client address (IPv6 per /64)", unit="requests/unit", kind="rate"
    )
    api_anonymous_rate_burst: Count | None = _setting(
        None, "such requests at once", unit="requests", kind="count", shown="twice the rate per second"
    )
    api_max_streams_per_key: Count = _setting(
        10, "open event streams per key; one more is a 429", unit="streams", kind="count"
    )
    api_max_waits_per_key: Count = _setting(
        100, "held waits per key; beyond it an order is answered at once", unit="requests", kind="count"
    )
    api_page_token_secret: SecretStr | None = _setting(
        None,
        "signs page tokens: at least 32 characters, the same on every replica",
        unit="secret",
        shown="unset (required beyond the embedded stack)",
    )
    api_page_token_secret_file: Path | None = _setting(None, "a file holding that secret", unit="path")

    # The CLI and `cadenza doctor`, as clients.
    api_key: SecretStr | None = _setting(None, "the key `cadenza load --via api` sends", unit="secret")
    api_url: str | None = _setting(
        None, "the Order API `cadenza doctor` checks", unit="URL", shown="`http://localhost:<CADENZA_API_PORT>`"
    )
    codec_url: str | None = _setting(
        None, "the codec server `cadenza doctor` checks", unit="URL", shown="`http://localhost:<CADENZA_CODEC_PORT>`"
    )

    # The codec server.
    codec_cors_origins: str | None = _setting(
        None,
        "Web UI origins allowed to call the codec server, comma-separated (never `*`)",
        unit="origins",
        shown="`http://localhost:<ui>,http://127.0.0.1:<ui>`",
        see="security.md#reading-encrypted-orders-the-codec-server",
    )
    codec_allowed_hosts: str | None = _setting(
        None,
        "names clients call the codec server by, besides `localhost` and IP addresses; required beyond loopback",
        unit="host names",
    )
    codec_tokens: SecretStr | None = _setting(
        None, "static bearer tokens with grants: `token=ns:read,ns:write;…`", unit="secret"
    )
    codec_oidc_issuer: str | None = _setting(
        None, "an OIDC issuer whose JWTs the codec server accepts (with the audience and JWKS URL)", unit="URL"
    )
    codec_oidc_audience: str | None = _setting(None, "the audience those JWTs must name", unit="text")
    codec_oidc_jwks_url: str | None = _setting(None, "where the issuer's signing keys are", unit="URL")
    codec_oidc_permissions_claim: str = _setting("permissions", "the JWT claim holding the grants", unit="claim name")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _EnvSource(settings_cls)

    def get(self, variable: str) -> Any:
        """The value of a variable such as `CADENZA_API_PORT`; a secret's revealed, for the code that uses it (never
        for messages)."""
        value = getattr(self, field_name(variable))
        return value.get_secret_value() if isinstance(value, SecretStr) else value


def variable(field: str) -> str:
    """The environment variable of a Settings field."""
    return PREFIX + field.upper()


def field_name(variable: str) -> str:
    name = variable.removeprefix(PREFIX).lower()
    if not variable.startswith(PREFIX) or name not in Settings.model_fields:
        raise KeyError(f"{variable} is not a Cadenza setting")
    return name


def _is_secret(info: FieldInfo) -> bool:
    return (info.json_schema_extra or {}).get("unit") == "secret"  # type: ignore[union-attr]


def _message(err: ValidationError, environ: Mapping[str, str]) -> str:
    """One line for the first bad variable: its name, its value (never a secret's) and what to set."""
    problem = err.errors()[0]
    field = str(problem["loc"][0])
    info = Settings.model_fields[field]
    name = variable(field)
    extra: dict[str, Any] = info.json_schema_extra or {}  # type: ignore[assignment]
    kind = _KINDS.get(extra.get("kind", ""), _Kind("valid", "a valid value"))
    options = [str(choice) for choice in get_args(info.annotation)] if extra.get("kind") == "choice" else [""]
    choices = " or ".join(filter(None, (", ".join(options[:-1]), options[-1])))
    raw = next((v.strip() for k, v in environ.items() if k.upper() == name), "")
    shown = name if _is_secret(info) else f"{name}={raw!r}"
    expect, hint = kind.expect.format(choices=choices), kind.hint.format(choices=choices)
    return f"{shown} is not {expect}; set it to {hint}, or unset it."


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: this process's environment); `InvalidSetting` names the first bad one."""
    token = _environ.set(environ)
    try:
        return Settings()
    except ValidationError as err:
        raise InvalidSetting(_message(err, os.environ if environ is None else environ)) from None
    finally:
        _environ.reset(token)


_loaded: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def settings() -> Settings:
    """This process's settings: loaded on first use (process entries call it first), again only when a `CADENZA_*`
    variable has changed since (tests set them with monkeypatch; `cadenza.stack` sets none in its own process)."""
    global _loaded
    snapshot = tuple((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))
    if _loaded is None or _loaded[0] != snapshot:
        _loaded = (snapshot, load_settings())
    return _loaded[1]


def deployment_name() -> str:
    """The Worker Deployment workers join (`CADENZA_DEPLOYMENT_NAME`, default `cadenza`)."""
    return settings().deployment_name


def configured_build_id() -> str | None:
    """`CADENZA_BUILD_ID`, if set (cadenza.build_id derives one otherwise)."""
    return settings().build_id


def deploy_auto_promote() -> bool:
    """Whether a starting worker makes its version current when the deployment has none yet
    (`CADENZA_DEPLOY_AUTO_PROMOTE`, default on: the laptop flow; production turns it off and promotes on purpose)."""
    return settings().deploy_auto_promote


@dataclass(frozen=True)
class ServiceEndpoint:
    """Where one downstream API lives and how to authenticate to it."""

    name: str
    base_url: str
    token: str

    @property
    def auth_headers(self) -> dict[str, str]:
        """The bearer-token header every request to this service carries."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1].split("/", 1)[0])


SERVICE_TOKEN_ENV = "CADENZA_SERVICE_TOKEN"
EMBEDDED_ENV = "CADENZA_TEMPORAL_EMBEDDED"
"""Set by cadenza.stack for the processes of an embedded stack (cadenza.connection says what else it changes)."""


class ServiceTokenMissing(InvalidInput):
    """A service outside the embedded stack is configured without its token; the message names the variables."""


def service_endpoint(name: str) -> ServiceEndpoint:
    """The endpoint of service `name`, from `CADENZA_<NAME>_URL` / `CADENZA_<NAME>_TOKEN` or the embedded defaults."""
    current = settings()
    url = current.get(f"CADENZA_{name.upper()}_URL") or ""
    return ServiceEndpoint(
        name=name,
        base_url=url or f"http://127.0.0.1:{current.get(f'CADENZA_{name.upper()}_PORT')}",
        token=_service_token(current, name.upper(), configured_url=url),
    )


def _service_token(current: Settings, upper: str, configured_url: str) -> str:
    """`CADENZA_<NAME>_TOKEN`, else `CADENZA_SERVICE_TOKEN`. The public development token only for the embedded
    stack's own services (no URL configured, or a process the stack started): a service somewhere else that received
    it would be called with a token anyone with a clone knows, so a process configured that way refuses to start."""
    own = f"CADENZA_{upper}_TOKEN"
    token = current.get(own) or current.get(SERVICE_TOKEN_ENV)
    if token:
        return str(token)
    if configured_url and not current.temporal_embedded:
        raise ServiceTokenMissing(
            f"CADENZA_{upper}_URL={configured_url} but neither {own} nor {SERVICE_TOKEN_ENV} is set: set one to the "
            f"token that service accepts (a Secret in production). The development token is sent only to the embedded "
            "stack's own services (`cadenza up`)."
        )
    return DEFAULT_SERVICE_TOKEN


def service_endpoints() -> dict[str, ServiceEndpoint]:
    return {name: service_endpoint(name) for name in SERVICE_NAMES}


def state_dir() -> Path:
    """Folder holding the embedded stack's SQLite files and logs (`CADENZA_STATE_DIR`, default `./.cadenza`)."""
    return settings().state_dir.resolve()


@dataclass(frozen=True)
class DevServerPorts:
    frontend: int
    ui: int


def dev_server_ports() -> DevServerPorts:
    current = settings()
    return DevServerPorts(frontend=current.temporal_port, ui=current.temporal_ui_port)


METRICS_PORT_ENV = "CADENZA_METRICS_PORT"


def metrics_port() -> int | None:
    """Where `cadenza up`'s worker serves Prometheus metrics (`CADENZA_METRICS_PORT`, default 9464; 0 = off)."""
    port = settings().metrics_port
    return (9464 if port is None else port) or None


def port_variables() -> list[str]:
    """Every `CADENZA_*_PORT` variable, in the settings' order: what a "port in use" message offers to move."""
    return [
        f"{PREFIX}{name.upper()}"
        for name, info in Settings.model_fields.items()
        if (info.json_schema_extra or {}).get("kind") == "port"  # type: ignore[union-attr]
    ]


def api_port() -> int | None:
    """Where `cadenza up` and `cadenza api` serve the Order API (`CADENZA_API_PORT`, default 8100; 0 = no API)."""
    return settings().api_port or None


def codec_port() -> int | None:
    """Where `cadenza up` serves the codec server (`CADENZA_CODEC_PORT`, default 8234; 0 = none)."""
    return settings().codec_port or None


def web_ui_base() -> str:
    """Base URL of the Temporal Web UI (`CADENZA_WEB_UI`), for the links the CLI prints."""
    return (settings().web_ui or f"http://localhost:{dev_server_ports().ui}").rstrip("/")


def workflow_ui_link(namespace: str, workflow_id: str) -> str:
    return f"{web_ui_base()}/namespaces/{namespace}/workflows/{workflow_id}"


# --- the table in docs/operations.md -------------------------------------------------------------------------------

TABLE_BEGIN = "<!-- settings table: generated by `python -m cadenza.settings --write`; do not edit by hand -->"
TABLE_END = "<!-- end of settings table -->"
DOCS_FILE = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def _shown_default(info: FieldInfo) -> str:
    extra: dict[str, Any] = info.json_schema_extra or {}  # type: ignore[assignment]
    if "shown" in extra:
        return str(extra["shown"])
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"`{value}`"


def markdown_table() -> str:
    """The configuration table: one row a variable, in the order of the fields."""
    rows = ["| variable | default | unit | meaning |", "|---|---|---|---|"]
    for field, info in Settings.model_fields.items():
        extra: dict[str, Any] = info.json_schema_extra or {}  # type: ignore[assignment]
        meaning = str(info.description)
        if extra.get("see"):
            meaning += f" ([docs/{extra['see'].split('#')[0]}]({_link(extra['see'])}))"
        rows.append(f"| `{variable(field)}` | {_shown_default(info)} | {extra.get('unit') or ''} | {meaning} |")
    return "\n".join(rows) + "\n"


def _link(target: str) -> str:
    page, _, anchor = target.partition("#")
    return f"#{anchor}" if page == "operations.md" else target


def with_table(document: str) -> str:
    """`document` with the text between the markers replaced by the generated table."""
    begin, end = document.index(TABLE_BEGIN) + len(TABLE_BEGIN), document.index(TABLE_END)
    return document[:begin] + "\n" + markdown_table() + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cadenza.settings", description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the configuration table")
    parser.add_argument("--write", action="store_true", help=f"regenerate the table in {DOCS_FILE.name}")
    args = parser.parse_args(argv)
    if args.write:
        DOCS_FILE.write_text(with_table(DOCS_FILE.read_text()))
        print(f"wrote the settings table into {DOCS_FILE}")
    elif args.markdown:
        sys.stdout.write(markdown_table())
    else:
        parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
