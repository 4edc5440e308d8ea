"""The OpenAPI documents saga definitions refer to (examples/sagas/openapi/) are the ones the services serve, and every
operation has the readable operationId a definition names it by."""

from __future__ import annotations

import re

import pytest

from cadenza.settings import ALL_SERVICE_NAMES
from services import openapi

OPERATIONS = {
    "erp": {"createOrder", "readOrder", "listOrders", "confirmOrder", "cancelOrder", "fence"},
    "payment": {"createCharge", "readCharge", "listCharges", "refundCharge", "listRefunds", "fence"},
    "inventory": {
        *("createReservation", "readReservation", "listReservations", "commitReservation", "releaseReservation"),
        *("listStock", "readStock", "fence"),
    },
    "flight": {"createBooking", "readBooking", "listBookings", "ticketBooking", "cancelBooking", "fence"},
    "hotel": {"createStay", "readStay", "listStays", "deleteStay", "fence"},
    "car": {"createRental", "readRental", "listRentals", "cancelRental"},
}
"""What saga definitions name: changing one breaks every definition that refers to it."""
EVERY_SERVICE = {"health", "readFaults", "replaceFaults", "readStats"}


@pytest.mark.parametrize("service", ALL_SERVICE_NAMES)
def test_the_file_is_the_document_the_service_serves(service: str) -> None:
    path = openapi.path_of(service)

    assert path.is_file(), f"{path} is missing: run {openapi.REGENERATE}"
    assert path.read_text(encoding="utf-8") == openapi.rendered(service), (
        f"{path} differs from what the {service} app serves at /openapi.json: run {openapi.REGENERATE}"
    )


def test_the_check_names_a_stale_file(tmp_path) -> None:
    openapi.write(tmp_path)
    openapi.path_of("hotel", tmp_path).write_text("{}\n", encoding="utf-8")

    assert list(openapi.stale(tmp_path)) == ["hotel"]


@pytest.mark.parametrize("service", ALL_SERVICE_NAMES)
def test_every_operation_has_its_readable_id(service: str) -> None:
    doc = openapi.document(service)

    ids = [operation["operationId"] for operations in doc["paths"].values() for operation in operations.values()]

    assert sorted(ids) == sorted(OPERATIONS[service] | EVERY_SERVICE)
    assert all(re.fullmatch(r"[a-z][A-Za-z]*", operation_id) for operation_id in ids), ids


def test_each_operation_takes_its_key_in_the_header_its_service_names() -> None:
    def key_headers(service: str, path: str, method: str) -> list[str]:
        parameters = openapi.document(service)["paths"][path][method].get("parameters", [])
        return [p["name"] for p in parameters if p["in"] == "header"]

    assert key_headers("flight", "/bookings", "post") == ["X-Request-Key"]
    assert key_headers("flight", "/bookings/{booking_id}/ticket", "post") == ["X-Request-Key"]
    assert key_headers("hotel", "/stays", "post") == ["Idempotency-Key"]
    assert key_headers("hotel", "/stays/{stay_id}", "delete") == ["Idempotency-Key"]
    assert key_headers("car", "/rentals", "post") == ["Idempotency-Key"]
