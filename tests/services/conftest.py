"""Fixtures for the simulated-service tests: in-process apps behind httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services.service_helpers import SERVICE_FACTORIES, TOKEN, ClientFactory, client_for


@pytest.fixture
async def make_client(tmp_path: Path) -> AsyncIterator[ClientFactory]:
    """Build a client for a fresh service: ``make_client("payment", faults=FaultConfig(...))``.

    Passing the same ``db`` name twice gives two apps over one SQLite file,
    which is how a restart is simulated.
    """
    clients: list[httpx.AsyncClient] = []

    def factory(service: str, *, db: str | None = None, **app_options: Any) -> httpx.AsyncClient:
        app = SERVICE_FACTORIES[service](tmp_path / f"{db or service}.db", TOKEN, **app_options)
        clients.append(client_for(app))
        return clients[-1]

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
def erp_client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for a fresh ERP."""
    return make_client("erp")


@pytest.fixture
def payment_client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for a fresh payment provider."""
    return make_client("payment")


@pytest.fixture
def inventory_client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for a fresh inventory service."""
    return make_client("inventory")


@pytest.fixture
def flight_client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for a fresh airline."""
    return make_client("flight")


@pytest.fixture
def hotel_client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for a fresh hotel."""
    return make_client("hotel")


@pytest.fixture
def car_client(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client for a fresh car rental."""
    return make_client("car")
