"""The `api` profile's pieces: a key for the bench's own Order API process, the settings that process runs with, and
placing an order over HTTP (to its outcome, or to its payment decision)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clients.api_keys import KeyStoreSettings, load_key_store
from starters.api_client import OrderApi, state_of
from starters.bench.workload import BenchOrderFailed, Fulfil
from workflows.models import Order

SCOPES = ("orders:write", "orders:read")

# The API process inherits this process's environment (cadenza.processes.ChildProcess); these override what a user's
# environment may say: no per-key rate limit and no cap on the waits one key may hold (the bench is one key with
# hundreds of orders at once: capped at its default 100, the rest of a burst was answered at once and polled with
# GETs, and the profile priced the bench's polling instead of the front door), and the keys read from the stack's
# state folder, where `bench_key` wrote the bench's key, not from a production secret.
API_ENVIRONMENT = {
    "CADENZA_API_RATE_LIMIT": "off",
    "CADENZA_API_MAX_WAITS_PER_KEY": str(1_000_000),
    "CADENZA_API_KEYS_FILE": "",
    "CADENZA_API_KEYS": "",
}


def bench_key(state_dir: Path) -> str:
    """A new key in the stack's development key store (the API process reads it from there)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    key, _ = load_key_store(KeyStoreSettings(state_dir=state_dir)).create(name="bench", scopes=SCOPES)
    return key


@contextmanager
def api_environment() -> Iterator[None]:
    """`API_ENVIRONMENT` in this process while the stack starts its API process; as it was afterwards."""
    saved = {name: os.environ.get(name) for name in API_ENVIRONMENT}
    os.environ.update(API_ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def api_fulfil(api: OrderApi) -> Fulfil:
    """`POST /orders` with `Prefer: wait=60` (then polling if it answered 202): a checkout waiting for the outcome."""

    async def fulfil(order: Order) -> None:
        view = await api.outcome(order)
        if state_of(view) != "completed":
            raise BenchOrderFailed(f"order {order.order_id} ended {state_of(view)}: {view.get('reason')}")

    return fulfil


def api_payment_decision(api: OrderApi) -> Fulfil:
    """`POST /orders` with `Prefer: wait=payment`: returns once the charge is decided, fulfilment still running."""

    async def decide(order: Order) -> None:
        outcome = (await api.payment_decision(order))["payment"]["outcome"]
        if outcome != "charged":
            raise BenchOrderFailed(f"order {order.order_id}: payment {outcome}")

    return decide
