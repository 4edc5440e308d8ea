"""Helpers shared by the simulated-service tests (a uniquely named module, so it never shadows another test tree's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from services import car, erp, flight, hotel, inventory, payment
from services.common.app_factory import AppFactory

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


SERVICE_FACTORIES: dict[str, AppFactory] = {
    "erp": erp.create_app,
    "payment": payment.create_app,
    "inventory": inventory.create_app,
    "flight": flight.create_app,
    "hotel": hotel.create_app,
    "car": car.create_app,
}


ClientFactory = Callable[..., httpx.AsyncClient]
"""Type of the ``make_client`` fixture: ``make_client("erp", faults=..., db=...)``."""


def client_for(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    """A client talking to ``app`` in-process, authenticated unless ``headers`` says otherwise."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers=AUTH if headers is None else headers,
    )


def order_body(order_id: str = "order-1", **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /orders`` body."""
    body = {
        "order_id": order_id,
        "customer_id": "cust-1",
        "currency": "EUR",
        "total_amount": 2500,
        "lines": [
            {"sku": "SKU-BOOK", "quantity": 2, "unit_price": 1000},
            {"sku": "SKU-MUG", "quantity": 1, "unit_price": 500},
        ],
    }
    return body | overrides


def charge_body(order_id: str = "order-1", payment_token: str = "tok_visa", **overrides: Any) -> dict[str, Any]:
    """A valid ``POST /charges`` body."""
    return {"order_id": order_id, "amount": 2500, "currency": "EUR", "payment_token": payment_token} | overrides


def reservation_body(order_id: str = "order-1", lines: dict[str, int] | None = None) -> dict[str, Any]:
    """A ``POST /reservations`` body; ``lines`` maps SKU to quantity."""
    lines = lines if lines is not None else {"SKU-BOOK": 2, "SKU-MUG": 1}
    return {"order_id": order_id, "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines.items()]}


def error_code(response: httpx.Response) -> str:
    """The ``error.code`` of an error response (fails loudly if the shape is wrong)."""
    code: str = response.json()["error"]["code"]
    return code


def key(value: str) -> dict[str, str]:
    """An ``Idempotency-Key`` header."""
    return {"Idempotency-Key": value}


TRAVELLER = {"name": "Ada Lovelace"}


def booking_body(trip_id: str = "trip-1", **overrides: Any) -> dict[str, Any]:
    """A valid flight ``POST /bookings`` body."""
    body = {
        "trip_id": trip_id,
        "traveller": TRAVELLER,
        "origin": "BER",
        "destination": "LIS",
        "departure_date": "2026-03-01",
        "amount": 18900,
        "currency": "EUR",
    }
    return body | overrides


def stay_body(trip_id: str = "trip-1", **overrides: Any) -> dict[str, Any]:
    """A valid hotel ``POST /stays`` body."""
    body = {
        "trip_id": trip_id,
        "traveller": TRAVELLER,
        "city": "Lisbon",
        "check_in": "2026-03-01",
        "nights": 3,
        "amount": 42000,
        "currency": "EUR",
    }
    return body | overrides


def rental_body(reference: str = "trip-1-car", trip_id: str = "trip-1", **overrides: Any) -> dict[str, Any]:
    """A valid car ``POST /rentals`` body."""
    body = {
        "reference": reference,
        "trip_id": trip_id,
        "traveller": TRAVELLER,
        "pickup_city": "Lisbon",
        "pickup_date": "2026-03-01",
        "days": 3,
        "amount": 15000,
        "currency": "EUR",
    }
    return body | overrides
