"""Every setting Cadenza reads from the environment, in one place.

Defaults describe the embedded stack (`cadenza up`): Temporal dev server on 7233 with its Web UI on 8233, the three
simulated services on 8101-8103. Each can be overridden by an environment variable, which is how the same code
runs against a Temporal cluster, Temporal Cloud or the docker-compose topology.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TASK_QUEUE = os.environ.get("CADENZA_TASK_QUEUE", "cadenza-orders")

# The Worker Deployment every Cadenza worker belongs to (docs/deploying.md, "Versioned rollouts"). One name per
# application, shared by all its builds; a name must not contain a dot (the SDK's `<deployment>.<build id>` form).
DEFAULT_DEPLOYMENT_NAME = "cadenza"

DEFAULT_TEMPORAL_ADDRESS = "localhost:7233"
DEFAULT_SERVICE_TOKEN = "cadenza-dev-token"

SERVICE_NAMES = ("erp", "payment", "inventory")
_DEFAULT_SERVICE_PORTS = {"erp": 8101, "payment": 8102, "inventory": 8103}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number; set it to a port number or unset it.") from None


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE | _FALSE:
        return raw in _TRUE
    raise SystemExit(f"{name}={raw!r} is not on or off; set it to 1 or 0 (true/false, yes/no) or unset it.")


def deployment_name() -> str:
    """The Worker Deployment workers join (`CADENZA_DEPLOYMENT_NAME`, default `cadenza`)."""
    name = os.environ.get("CADENZA_DEPLOYMENT_NAME", "").strip() or DEFAULT_DEPLOYMENT_NAME
    if "." in name:
        raise SystemExit(f"CADENZA_DEPLOYMENT_NAME={name!r} contains a dot; pick a name without one, e.g. 'cadenza'.")
    return name


def configured_build_id() -> str | None:
    """`CADENZA_BUILD_ID`, if set (cadenza.build_id derives one otherwise)."""
    return os.environ.get("CADENZA_BUILD_ID", "").strip() or None


def deploy_auto_promote() -> bool:
    """Whether a starting worker makes its version current when the deployment has none yet
    (`CADENZA_DEPLOY_AUTO_PROMOTE`, default on: the laptop flow; production turns it off and promotes on purpose)."""
    return _env_flag("CADENZA_DEPLOY_AUTO_PROMOTE", True)


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


class ServiceTokenMissing(SystemExit):
    """A service outside the embedded stack is configured without its token; the message names the variables."""


def service_endpoint(name: str) -> ServiceEndpoint:
    """The endpoint of service `name`, from `CADENZA_<NAME>_URL` / `CADENZA_<NAME>_TOKEN` or the embedded defaults."""
    upper = name.upper()
    port = _env_int(f"CADENZA_{upper}_PORT", _DEFAULT_SERVICE_PORTS[name])
    url = os.environ.get(f"CADENZA_{upper}_URL", "").strip()
    return ServiceEndpoint(
        name=name,
        base_url=url or f"http://127.0.0.1:{port}",
        token=_service_token(upper, configured_url=url),
    )


def _service_token(upper: str, configured_url: str) -> str:
    """`CADENZA_<NAME>_TOKEN`, else `CADENZA_SERVICE_TOKEN`. The public development token only for the embedded
    stack's own services (no URL configured, or a process the stack started): a service somewhere else that received
    it would be called with a token anyone with a clone knows, so a process configured that way refuses to start."""
    own = f"CADENZA_{upper}_TOKEN"
    token = os.environ.get(own, "").strip() or os.environ.get(SERVICE_TOKEN_ENV, "").strip()
    if token:
        return token
    if configured_url and not os.environ.get(EMBEDDED_ENV):
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
    return Path(os.environ.get("CADENZA_STATE_DIR", ".cadenza")).resolve()


@dataclass(frozen=True)
class DevServerPorts:
    frontend: int
    ui: int


def dev_server_ports() -> DevServerPorts:
    return DevServerPorts(
        frontend=_env_int("CADENZA_TEMPORAL_PORT", 7233),
        ui=_env_int("CADENZA_TEMPORAL_UI_PORT", 8233),
    )


METRICS_PORT_ENV = "CADENZA_METRICS_PORT"


def metrics_port() -> int | None:
    """Where `cadenza up`'s worker serves Prometheus metrics (`CADENZA_METRICS_PORT`, default 9464; 0 = off)."""
    port = _env_int(METRICS_PORT_ENV, 9464)
    return port or None


def api_port() -> int | None:
    """Where `cadenza up` serves the Order API (`CADENZA_API_PORT`, default 8100; 0 = no API)."""
    port = _env_int("CADENZA_API_PORT", 8100)
    return port or None


def codec_port() -> int | None:
    """Where `cadenza up` serves the codec server (`CADENZA_CODEC_PORT`, default 8234; 0 = none)."""
    port = _env_int("CADENZA_CODEC_PORT", 8234)
    return port or None


def web_ui_base() -> str:
    """Base URL of the Temporal Web UI (`CADENZA_WEB_UI`), for the links the CLI prints."""
    return os.environ.get("CADENZA_WEB_UI", f"http://localhost:{dev_server_ports().ui}").rstrip("/")


def workflow_ui_link(namespace: str, workflow_id: str) -> str:
    return f"{web_ui_base()}/namespaces/{namespace}/workflows/{workflow_id}"
