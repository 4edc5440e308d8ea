"""How every Cadenza process reaches Temporal: one function, configured the standard way.

Settings come from `temporalio.envconfig`, i.e. the same environment variables and `temporal.toml` profiles as the
`temporal` CLI: the profile `TEMPORAL_PROFILE` (default `default`) of the file `TEMPORAL_CONFIG_FILE` (default
~/.config/temporalio/temporal.toml), with `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`,
`TEMPORAL_TLS*` on top. With none set, the embedded dev server of `cadenza up` is used. examples/temporal.toml has a
profile for the dev server, Temporal Cloud with an API key and Temporal Cloud with mTLS; `cadenza doctor` checks one.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import Runtime
from temporalio.service import RPCError

from cadenza import codec
from cadenza.codec import ENCRYPTION_ENV, EncryptionError, KeyRing
from cadenza.errors import CadenzaError
from cadenza.settings import dev_server_ports, settings
from cadenza.telemetry import setup_tracing, temporal_plugins

# ENCRYPTION_ENV `required`: a process without keys refuses to start. Unset (or `optional`): without keys, payloads
# stay plain text (a worker warns). The embedded stack always sets `required` and a key for its children.


class EncryptionMissing(EncryptionError):
    """Encryption is required here, but this process has no keys."""


@functools.cache
def key_ring() -> KeyRing | None:
    """This process's key ring, read once (cadenza.codec says from where); None when no keys are configured, or
    when `CADENZA_ENCRYPTION=off` (a benchmark measuring the codec's cost)."""
    return None if encryption_setting() == "off" else KeyRing.from_environment()


def encryption_required() -> bool:
    return encryption_setting() == "required"


def encryption_setting() -> str:
    """`CADENZA_ENCRYPTION`: required, optional (the default) or off (cadenza.settings refuses anything else)."""
    return settings().encryption


@functools.cache
def data_converter(namespace: str | None = None) -> DataConverter:
    """THE data converter: workers, starters, the API and the replayer must agree on it, or payloads would not decode.

    Encrypts with this process's key ring (cadenza.codec) when there is one. Off by default without keys, so that a
    deployment that has none keeps running (and keeps reading its open orders' plain-text history) after an upgrade;
    `CADENZA_ENCRYPTION=required` turns the missing keys into a start-up error instead, and the embedded stack sets it.
    Payloads are bound to `namespace`, by default the one this process connects to (`configured_namespace`).
    """
    ring = key_ring()
    if ring is None and encryption_required():
        raise EncryptionMissing(
            f"{ENCRYPTION_ENV}=required but this process has no encryption keys. Set {codec.KEYS_ENV} (a line from "
            f"`cadenza keys generate`) or {codec.KEYS_FILE_ENV} to the keys the workers use."
        )
    return codec.data_converter(
        ring, namespace=namespace or configured_namespace(), accept_unbound=codec.unbound_accepted()
    )


def configured_namespace() -> str:
    """The namespace this process connects to (`connect_config`), which its payloads are bound to. With a profile that
    cannot be read, `TEMPORAL_NAMESPACE` (or `default`) stands in: `connect` reports the profile, and a replay of
    history files, which never connects, still runs."""
    try:
        return str(connect_config()["namespace"])
    except TemporalConfigInvalid:
        return os.environ.get("TEMPORAL_NAMESPACE") or "default"


def encryption_summary() -> str:
    """One line for a process's start-up log: which key encrypts, never the keys."""
    ring = key_ring()
    if ring is None:
        return (
            f"payloads are NOT encrypted ({codec.missing_keys()}); inputs, results and failure messages (customer "
            "names, addresses, e-mails) are stored in Temporal in plain text, and a worker that requires encryption "
            "refuses them. Elsewhere, create a key with `cadenza keys generate`."
        )
    return f"payloads encrypted with key {ring.active_id!r} (decrypts: {', '.join(ring.ids)}; from {ring.source})"


class TemporalUnavailable(CadenzaError, RuntimeError):
    """Temporal could not be reached; the message says what to do about it."""


class TemporalConfigInvalid(TemporalUnavailable):
    """The connection profile could not be read (unknown profile, missing certificate file, bad TOML)."""


PROFILE_ENV = "TEMPORAL_PROFILE"
CONFIG_FILE_ENV = "TEMPORAL_CONFIG_FILE"
# EMBEDDED_ENV (cadenza.settings): set for the processes of an embedded stack (they inherit the user's shell): they talk
# to its dev server by TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE alone, whatever profile, API key or certificates that shell
# holds for another Temporal (a `TEMPORAL_API_KEY` would otherwise turn on TLS against the plain-text dev server).


def active_profile() -> str:
    """The envconfig profile this process uses: `TEMPORAL_PROFILE`, else `default` (as the `temporal` CLI)."""
    return os.environ.get(PROFILE_ENV, "").strip() or "default"


def config_file() -> str:
    """Where the profiles are read from (`TEMPORAL_CONFIG_FILE`, else the `temporal` CLI's own file), and whether it
    exists: without one, only `TEMPORAL_*` variables and the defaults apply."""
    path = os.environ.get(CONFIG_FILE_ENV, "").strip() or "~/.config/temporalio/temporal.toml"
    return path if Path(path).expanduser().is_file() else f"{path}: no such file"


def connect_config() -> dict[str, Any]:
    """Keyword arguments for `Client.connect`: the active profile of `temporalio.envconfig` (file, then `TEMPORAL_*`
    variables on top), with the embedded dev server as the default address and `default` as the namespace."""
    if settings().temporal_embedded:
        return embedded_config(
            os.environ.get("TEMPORAL_ADDRESS") or f"localhost:{dev_server_ports().frontend}",
            os.environ.get("TEMPORAL_NAMESPACE") or "default",
        )
    try:
        config: dict[str, Any] = dict(ClientConfigProfile.load().to_client_connect_config())
    except (RuntimeError, OSError, ValueError) as err:  # the bridge's ConfigError is a RuntimeError; OSError: a cert
        raise TemporalConfigInvalid(
            f"Cannot read Temporal connection profile {active_profile()!r} (from {config_file()} and TEMPORAL_* "
            f"variables): {err}. Check {CONFIG_FILE_ENV} / {PROFILE_ENV} and the certificate paths of the profile "
            "(examples/temporal.toml shows each kind), or unset them to use the embedded dev server."
        ) from err
    config.setdefault("target_host", f"localhost:{dev_server_ports().frontend}")
    config.setdefault("namespace", "default")
    return config


def embedded_config(address: str, namespace: str = "default") -> dict[str, Any]:
    """Keyword arguments for `Client.connect` to a stack this process started or was handed (tests, bench, chaos,
    `cadenza up`): its own dev server, so no profile applies: a user's Temporal Cloud API key or certificates in
    `TEMPORAL_*` must not be sent to, or break, a local plain-text dev server."""
    return {"target_host": address, "namespace": namespace}


async def connect(
    *,
    service_name: str = "cadenza-cli",
    runtime: Runtime | None = None,
    address: str | None = None,
    converter: DataConverter | None = None,
    traced: bool = True,
    worker: bool = False,
) -> Client:
    """Connect to Temporal with Cadenza's data converter and tracing plugin, or raise `TemporalUnavailable` with a
    next step. `runtime` carries a worker's metrics configuration (see cadenza.telemetry). `address` is a stack of
    the caller's own (tests, bench, chaos, `cadenza up`): the profile does not apply, see `embedded_config`.
    `converter` replaces this process's (a stack's own keys); `traced=False` leaves out the tracing plugin (the
    benchmark's untuned reference). `worker`: the client of a worker process, whose workers make Temporal spans only
    when this process exports them (cadenza.telemetry.temporal_plugins)."""
    config = connect_config() if address is None else embedded_config(address)
    # Outside the try: missing keys are not an unreachable Temporal. Payloads are bound to the namespace connected to.
    converter = converter or data_converter(config["namespace"])
    if traced:
        setup_tracing(service_name)
    try:
        return await Client.connect(
            **config,
            data_converter=converter,
            plugins=temporal_plugins(worker=worker) if traced else [],
            runtime=runtime,
        )
    except (RPCError, RuntimeError) as err:
        raise TemporalUnavailable(
            f"Cannot reach Temporal at {config['target_host']} (namespace {config['namespace']}, profile "
            f"{active_profile()!r}): {err}. Start the embedded stack with `cadenza up`, or point TEMPORAL_ADDRESS / "
            "TEMPORAL_NAMESPACE / TEMPORAL_API_KEY (or TEMPORAL_PROFILE) at your cluster; `cadenza doctor` checks "
            "the whole setup."
        ) from err
