"""How every Cadenza process reaches Temporal: one function, configured the standard way.

Settings come from `temporalio.envconfig`, i.e. the same environment variables and `temporal.toml` profiles as the
`temporal` CLI: `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS*`, `TEMPORAL_PROFILE`.
With none set, the embedded dev server of `cadenza up` is used.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfigProfile
from temporalio.service import RPCError

from temporalio.runtime import Runtime

from cadenza.settings import dev_server_ports
from cadenza.telemetry import setup_tracing, temporal_plugins

# Workers, starters and the replayer must agree on this, or payloads would not decode.
DATA_CONVERTER = pydantic_data_converter


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached; the message says what to do about it."""


def connect_config() -> dict[str, Any]:
    """Keyword arguments for `Client.connect`, from envconfig with the embedded dev server as the default."""
    config: dict[str, Any] = dict(ClientConfigProfile.load().to_client_connect_config())
    config.setdefault("target_host", f"localhost:{dev_server_ports().frontend}")
    config.setdefault("namespace", "default")
    return config


async def connect(
    *, service_name: str = "cadenza-cli", runtime: Runtime | None = None, address: str | None = None
) -> Client:
    """Connect to Temporal with Cadenza's data converter and tracing plugin, or raise `TemporalUnavailable` with a
    next step. `runtime` carries a worker's metrics configuration (see cadenza.telemetry); `address` overrides the
    configured one (a stack of the caller's own, as in tests)."""
    config = connect_config()
    if address is not None:
        config["target_host"] = address
    setup_tracing(service_name)
    try:
        return await Client.connect(
            **config, data_converter=DATA_CONVERTER, plugins=temporal_plugins(), runtime=runtime
        )
    except (RPCError, RuntimeError) as err:
        raise TemporalUnavailable(
            f"Cannot reach Temporal at {config['target_host']} (namespace {config['namespace']}): {err}. "
            "Start the embedded stack with `cadenza up`, or point TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / "
            "TEMPORAL_API_KEY at your cluster."
        ) from err
