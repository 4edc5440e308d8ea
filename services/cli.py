"""Command line for running one simulated service as its own process.

Usage: ``python -m services {erp|payment|inventory|flight|hotel|car} [--port N] [--db PATH]
[--token T] [--faults JSON] [--host HOST]``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from cadenza.settings import ALL_SERVICE_NAMES, InvalidSetting, settings
from cadenza.telemetry import setup_tracing
from services.common.app_factory import AppFactory
from services.common.faults import FaultConfig

DEFAULT_TOKEN = "cadenza-dev-token"
TOKEN_ENV_VAR = "CADENZA_SERVICE_TOKEN"
FAULTS_ENV_VAR_PREFIX = "CADENZA_FAULTS_"
"""``CADENZA_FAULTS_ERP`` etc. hold a FaultConfig as JSON."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; defaults that depend on the service are resolved after parsing."""
    parser = argparse.ArgumentParser(prog="python -m services", description="Run one Cadenza simulated service.")
    parser.add_argument("service", choices=ALL_SERVICE_NAMES, help="which service to run")
    parser.add_argument("--port", type=int, help="TCP port (default: $CADENZA_<SERVICE>_PORT: erp 8101 … car 8106)")
    parser.add_argument("--db", type=Path, help="SQLite file (default: .cadenza/<service>.db)")
    parser.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV_VAR} or {DEFAULT_TOKEN!r})")
    parser.add_argument("--faults", help=f"FaultConfig as JSON (default: ${FAULTS_ENV_VAR_PREFIX}<SERVICE>)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    return parser


def load_app_factory(service: str) -> AppFactory:
    """The ``create_app`` of ``services.<service>``, imported only for the service being run."""
    factory: AppFactory = importlib.import_module(f"services.{service}").create_app
    return factory


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments, build the app and serve it until interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        current = settings()  # a bad CADENZA_* value stops the service here, with one line naming it
    except InvalidSetting as err:
        parser.exit(err.exit_code, f"error: {err}\n")
    service: str = args.service
    faults_json = args.faults or current.get(FAULTS_ENV_VAR_PREFIX + service.upper())
    try:
        faults = FaultConfig.model_validate_json(faults_json) if faults_json else None
    except ValidationError as error:
        parser.error(f"invalid fault configuration: {error}")
    setup_tracing(f"cadenza-{service}")
    app = load_app_factory(service)(
        db_path=args.db or Path(".cadenza") / f"{service}.db",
        token=args.token or current.get(TOKEN_ENV_VAR) or DEFAULT_TOKEN,
        faults=faults,
    )
    # Access logs off: under load tests they would dominate the run time and
    # the saga has its own tracing.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port or current.get(f"CADENZA_{service.upper()}_PORT"),
        access_log=False,
        log_level="warning",
    )
