"""The travel services as real processes: what a saga worker meets on the wire (the fixture others' tests use)."""

from __future__ import annotations

import json

import httpx
import pytest

from cadenza.settings import TRAVEL_SERVICE_NAMES
from tests.integration.conftest import TravelServices
from tests.integration.test_cli import _cadenza_async
from tests.services.service_helpers import booking_body, rental_body, stay_body

pytestmark = pytest.mark.integration


async def test_each_travel_service_runs_as_its_own_process(travel_services: TravelServices) -> None:
    async with httpx.AsyncClient(timeout=10) as http:
        health = {
            name: (await http.get(f"{endpoint.base_url}/health")).json()
            for name, endpoint in travel_services.endpoints.items()
        }

    assert health == {name: {"status": "ok", "service": name} for name in TRAVEL_SERVICE_NAMES}


async def test_a_trip_booked_and_undone_over_http_is_in_the_services_records(
    travel_services: TravelServices,
) -> None:
    flight, hotel, car = (travel_services.endpoints[name] for name in TRAVEL_SERVICE_NAMES)
    trip = "trip-it-1"
    async with httpx.AsyncClient(timeout=10) as http:
        booking = await http.post(
            f"{flight.base_url}/bookings",
            json=booking_body(trip),
            headers={**flight.auth_headers, "X-Request-Key": f"{trip}/flight"},
        )
        stay = await http.post(
            f"{hotel.base_url}/stays",
            json=stay_body(trip),
            headers={**hotel.auth_headers, "Idempotency-Key": f"{trip}/hotel"},
        )
        # The car's answer is "lost": the caller finds the rental by its reference instead.
        await http.post(
            f"{car.base_url}/rentals",
            json=rental_body(f"{trip}-car", trip_id=trip),
            headers={**car.auth_headers, "Idempotency-Key": f"{trip}/car"},
        )
        fence = await http.post(
            f"{flight.base_url}/fences", json={"key": f"{trip}/flight"}, headers=flight.auth_headers
        )
        deleted = await http.delete(f"{hotel.base_url}/stays/{stay.json()['id']}", headers=hotel.auth_headers)
        found = await http.get(f"{car.base_url}/rentals", params={"reference": f"{trip}-car"}, headers=car.auth_headers)
        cancelled = await http.post(
            f"{car.base_url}/rentals/{found.json()['rentals'][0]['id']}/cancel", headers=car.auth_headers
        )
        records = {
            "flight": await http.get(
                f"{flight.base_url}/bookings", params={"trip_id": trip}, headers=flight.auth_headers
            ),
            "hotel": await http.get(f"{hotel.base_url}/stays", params={"trip_id": trip}, headers=hotel.auth_headers),
            "car": await http.get(f"{car.base_url}/rentals", params={"trip_id": trip}, headers=car.auth_headers),
        }

    assert booking.status_code == stay.status_code == 201
    assert fence.status_code == 201 and deleted.status_code == 200 and cancelled.status_code == 200
    statuses = {
        name: [item["status"] for item in next(iter(answer.json().values()))] for name, answer in records.items()
    }
    assert statuses == {"flight": ["cancelled"], "hotel": ["cancelled"], "car": ["cancelled"]}


async def test_faults_are_steered_at_run_time(travel_services: TravelServices) -> None:
    hotel = travel_services.endpoints["hotel"]
    await travel_services.faults.set("hotel", {"error_rate": 1.0})
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            failed = await http.post(f"{hotel.base_url}/stays", json=stay_body("trip-it-2"), headers=hotel.auth_headers)
    finally:
        await travel_services.faults.set("hotel", {})

    assert failed.status_code == 503
    assert (await travel_services.faults.stats("hotel"))["errors_injected"] == 1


async def test_cadenza_faults_steers_each_travel_service_as_it_steers_the_order_services(
    travel_services: TravelServices,
) -> None:
    """`cadenza faults` offers the travel services by name: each must be reached at its configured URL (it once
    failed with `error: 'flight'`, looking the name up among the order services only)."""
    env = travel_services.stack.config.client_env()
    for name in TRAVEL_SERVICE_NAMES:
        refused = await _cadenza_async(["faults", "refuse", name, "--match", "newcomer-probe"], env)
        assert refused.returncode == 0, refused.stdout + refused.stderr
        try:
            shown = await _cadenza_async(["faults", "show", name], env)
            assert shown.returncode == 0, shown.stdout + shown.stderr
            assert [entry["match"] for entry in json.loads(shown.stdout)["script"]] == ["newcomer-probe"]
        finally:
            cleared = await _cadenza_async(["faults", "clear", name], env)
        assert cleared.returncode == 0, cleared.stdout + cleared.stderr
        assert (await travel_services.faults.get(name))["script"] == []
