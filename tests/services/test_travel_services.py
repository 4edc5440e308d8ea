"""The travel services' own conventions, each different from the order services' on purpose: the airline's key
header and irreversible ticket, the hotel's DELETE undo, the car rental's lookup by reference instead of a fence."""

from __future__ import annotations

import re

import httpx
import pytest

from services.common.mutations import REPLAYED_HEADER
from tests.services.service_helpers import (
    ClientFactory,
    booking_body,
    error_code,
    key,
    rental_body,
    stay_body,
)

REQUEST_KEY = "X-Request-Key"


# --- flight: keys in X-Request-Key, ticketing is the pivot -----------------------------------------------------------


async def test_a_booking_retried_with_the_same_request_key_is_made_once(flight_client: httpx.AsyncClient) -> None:
    first = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "trip-1/flight"})
    retry = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "trip-1/flight"})

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry.headers[REPLAYED_HEADER] == "true"
    assert [
        b["id"] for b in (await flight_client.get("/bookings", params={"trip_id": "trip-1"})).json()["bookings"]
    ] == [first.json()["id"]]


async def test_the_airline_ignores_an_idempotency_key_header(flight_client: httpx.AsyncClient) -> None:
    # The airline reads its own header only: a client sending the usual one gets two bookings, which is why a saga
    # declares the header per operation.
    await flight_client.post("/bookings", json=booking_body(), headers=key("k"))
    await flight_client.post("/bookings", json=booking_body(), headers=key("k"))

    assert len((await flight_client.get("/bookings")).json()["bookings"]) == 2


async def test_a_request_key_reused_for_another_booking_is_refused(flight_client: httpx.AsyncClient) -> None:
    await flight_client.post("/bookings", json=booking_body("trip-1"), headers={REQUEST_KEY: "k"})
    reused = await flight_client.post("/bookings", json=booking_body("trip-2"), headers={REQUEST_KEY: "k"})

    assert reused.status_code == 422 and error_code(reused) == "idempotency_key_reuse"
    assert REQUEST_KEY in reused.json()["error"]["message"]


async def test_a_held_booking_can_be_cancelled(flight_client: httpx.AsyncClient) -> None:
    booking = (await flight_client.post("/bookings", json=booking_body())).json()

    cancelled = await flight_client.post(f"/bookings/{booking['id']}/cancel")
    again = await flight_client.post(f"/bookings/{booking['id']}/cancel")
    ticket = await flight_client.post(f"/bookings/{booking['id']}/ticket")

    assert cancelled.status_code == again.status_code == 200 and again.json()["status"] == "cancelled"
    assert ticket.status_code == 409 and error_code(ticket) == "invalid_state"


async def test_a_ticketed_booking_cannot_be_cancelled(flight_client: httpx.AsyncClient) -> None:
    booking = (await flight_client.post("/bookings", json=booking_body())).json()

    ticketed = await flight_client.post(f"/bookings/{booking['id']}/ticket", headers={REQUEST_KEY: "trip-1/ticket"})
    again = await flight_client.post(f"/bookings/{booking['id']}/ticket")
    cancel = await flight_client.post(f"/bookings/{booking['id']}/cancel")

    assert ticketed.status_code == 200 and ticketed.json()["status"] == "ticketed"
    assert ticketed.json()["ticket_number"].startswith("TK-")
    assert again.json()["ticket_number"] == ticketed.json()["ticket_number"]
    assert cancel.status_code == 409 and error_code(cancel) == "booking_ticketed"
    assert (await flight_client.get(f"/bookings/{booking['id']}")).json()["status"] == "ticketed"


async def test_fencing_a_held_booking_cancels_it_and_refuses_the_late_request(flight_client: httpx.AsyncClient) -> None:
    booked = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "trip-1/flight"})

    fence = await flight_client.post("/fences", json={"key": "trip-1/flight"})
    late = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "trip-1/flight"})

    assert fence.status_code == 201 and fence.json()["undone"] and fence.json()["resource_id"] == booked.json()["id"]
    assert (await flight_client.get(f"/bookings/{booked.json()['id']}")).json()["status"] == "cancelled"
    assert late.status_code == 409 and error_code(late) == "request_fenced"
    assert REQUEST_KEY in late.json()["error"]["message"]


async def test_fencing_an_unknown_key_tombstones_it(flight_client: httpx.AsyncClient) -> None:
    fence = await flight_client.post("/fences", json={"key": "never-sent"})
    late = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "never-sent"})

    assert fence.status_code == 201 and not fence.json()["request_found"]
    assert late.status_code == 409 and error_code(late) == "request_fenced"
    assert (await flight_client.get("/bookings")).json()["bookings"] == []


async def test_a_ticketed_booking_cannot_be_fenced(flight_client: httpx.AsyncClient) -> None:
    booking = (await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "create"})).json()
    await flight_client.post(f"/bookings/{booking['id']}/ticket")

    fence = await flight_client.post("/fences", json={"key": "create"})
    replay = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "create"})

    # Refused, and nothing fenced: the ticket stands and the creation's key still replays its booking.
    assert fence.status_code == 409 and error_code(fence) == "booking_ticketed"
    assert replay.status_code == 201 and replay.json()["id"] == booking["id"]


async def test_a_late_ticket_whose_key_was_fenced_first_cannot_make_the_booking_irreversible(
    flight_client: httpx.AsyncClient,
) -> None:
    booking = (await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "create"})).json()

    # A compensation fences the later call's key first (`later_keys`), then the creation's.
    ticket_fence = await flight_client.post("/fences", json={"key": "ticket"})
    create_fence = await flight_client.post("/fences", json={"key": "create"})
    late_ticket = await flight_client.post(f"/bookings/{booking['id']}/ticket", headers={REQUEST_KEY: "ticket"})

    assert not ticket_fence.json()["request_found"] and create_fence.json()["undone"]
    assert late_ticket.status_code == 409 and error_code(late_ticket) == "request_fenced"
    assert (await flight_client.get(f"/bookings/{booking['id']}")).json()["status"] == "cancelled"


# --- hotel: the undo is a DELETE --------------------------------------------------------------------------------------


async def test_deleting_a_stay_cancels_it_and_deleting_again_answers_the_same(hotel_client: httpx.AsyncClient) -> None:
    stay = (await hotel_client.post("/stays", json=stay_body(), headers=key("trip-1/hotel"))).json()

    deleted = await hotel_client.delete(f"/stays/{stay['id']}")
    again = await hotel_client.delete(f"/stays/{stay['id']}")

    assert deleted.status_code == again.status_code == 200
    assert deleted.json() == again.json() and deleted.json()["status"] == "cancelled"
    # Gone from its own URL, and still in the hotel's record of what it did.
    gone = await hotel_client.get(f"/stays/{stay['id']}")
    assert gone.status_code == 404 and error_code(gone) == "stay_deleted"
    assert [s["status"] for s in (await hotel_client.get("/stays", params={"trip_id": "trip-1"})).json()["stays"]] == [
        "cancelled"
    ]


async def test_deleting_an_unknown_stay_is_a_404(hotel_client: httpx.AsyncClient) -> None:
    response = await hotel_client.delete(f"/stays/st_{'0' * 24}")

    assert response.status_code == 404 and error_code(response) == "stay_not_found"


async def test_a_stay_retried_with_the_same_key_is_booked_once(hotel_client: httpx.AsyncClient) -> None:
    first = await hotel_client.post("/stays", json=stay_body(), headers=key("trip-1/hotel"))
    retry = await hotel_client.post("/stays", json=stay_body(), headers=key("trip-1/hotel"))

    assert retry.json() == first.json() and retry.headers[REPLAYED_HEADER] == "true"


async def test_fencing_a_stay_cancels_it(hotel_client: httpx.AsyncClient) -> None:
    stay = (await hotel_client.post("/stays", json=stay_body(), headers=key("trip-1/hotel"))).json()

    fence = await hotel_client.post("/fences", json={"key": "trip-1/hotel"})
    late = await hotel_client.post("/stays", json=stay_body(), headers=key("trip-1/hotel"))

    assert fence.json()["undone"] and fence.json()["resource_id"] == stay["id"]
    assert (await hotel_client.get(f"/stays/{stay['id']}")).status_code == 404
    assert late.status_code == 409 and error_code(late) == "request_fenced"


async def test_a_stay_takes_a_real_calendar_date(hotel_client: httpx.AsyncClient) -> None:
    answers = [
        (await hotel_client.post("/stays", json=stay_body(check_in=value))).status_code
        for value in ("2026-02-30", "20260301", 1772323200, "2026-03-01T00:00:00")
    ]

    assert answers == [422, 422, 422, 422]


# --- car: no fence; look the rental up by its reference, then cancel it -----------------------------------------------


async def test_a_rental_is_found_by_its_reference_and_cancelled(car_client: httpx.AsyncClient) -> None:
    await car_client.post("/rentals", json=rental_body("trip-2-car", trip_id="trip-2"))
    created = (await car_client.post("/rentals", json=rental_body("trip-1-car"), headers=key("trip-1/car"))).json()

    found = (await car_client.get("/rentals", params={"reference": "trip-1-car"})).json()["rentals"]
    cancelled = await car_client.post(f"/rentals/{found[0]['id']}/cancel")
    again = await car_client.post(f"/rentals/{found[0]['id']}/cancel")

    assert [rental["id"] for rental in found] == [created["id"]]
    assert cancelled.status_code == again.status_code == 200 and again.json()["status"] == "cancelled"
    assert (await car_client.get("/rentals", params={"reference": "nobody"})).json()["rentals"] == []


async def test_a_reference_names_one_rental_for_ever(car_client: httpx.AsyncClient) -> None:
    first = (await car_client.post("/rentals", json=rental_body("ref-1"))).json()
    await car_client.post(f"/rentals/{first['id']}/cancel")

    second = await car_client.post("/rentals", json=rental_body("ref-1", trip_id="trip-9"))

    assert second.status_code == 409 and error_code(second) == "reference_exists"
    assert second.json()["error"]["rental_id"] == first["id"]


async def test_rentals_list_by_trip_and_reference_together(car_client: httpx.AsyncClient) -> None:
    for reference, trip in (("a", "trip-1"), ("b", "trip-1"), ("c", "trip-2")):
        await car_client.post("/rentals", json=rental_body(reference, trip_id=trip))

    by_trip = (await car_client.get("/rentals", params={"trip_id": "trip-1"})).json()["rentals"]
    both = (await car_client.get("/rentals", params={"trip_id": "trip-1", "reference": "c"})).json()["rentals"]

    assert [r["reference"] for r in by_trip] == ["a", "b"] and both == []


async def test_the_car_rental_has_no_fence(car_client: httpx.AsyncClient) -> None:
    response = await car_client.post("/fences", json={"key": "k"})

    assert response.status_code == 404


# --- every travel service: faults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "path", "body"),
    [("flight", "/bookings", booking_body()), ("hotel", "/stays", stay_body()), ("car", "/rentals", rental_body())],
)
async def test_injected_faults_apply_nothing(make_client: ClientFactory, service: str, path: str, body: dict) -> None:
    client = make_client(service)
    await client.put("/admin/faults", json={"error_rate": 1.0})

    failed = await client.post(path, json=body)
    read = await client.get(path)
    stats = (await client.get("/admin/stats")).json()
    await client.put("/admin/faults", json={})
    recovered = await client.post(path, json=body)

    assert failed.status_code == 503 and error_code(failed) == "service_unavailable"
    assert read.status_code == 200 and list(read.json().values()) == [[]]
    assert stats["errors_injected"] == 1
    assert recovered.status_code == 201


async def test_the_hotel_delete_is_faulted_like_any_change(hotel_client: httpx.AsyncClient) -> None:
    stay = (await hotel_client.post("/stays", json=stay_body())).json()
    await hotel_client.put("/admin/faults", json={"script": [{"kind": "error", "times": 1, "match": stay["id"]}]})

    faulted = await hotel_client.delete(f"/stays/{stay['id']}")
    retried = await hotel_client.delete(f"/stays/{stay['id']}")

    assert faulted.status_code == 503 and retried.status_code == 200
    assert (await hotel_client.get(f"/stays/{stay['id']}")).status_code == 404


async def test_a_scripted_fault_matches_the_airline_key(flight_client: httpx.AsyncClient) -> None:
    await flight_client.put("/admin/faults", json={"script": [{"kind": "error", "times": 1, "match": "trip-1/"}]})

    faulted = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "trip-1/flight"})
    retried = await flight_client.post("/bookings", json=booking_body(), headers={REQUEST_KEY: "trip-1/flight"})

    assert faulted.status_code == 503 and retried.status_code == 201


@pytest.mark.parametrize(
    ("service", "path", "body", "parameter"),
    [
        ("flight", "/bookings", booking_body(), "booking_id"),
        ("hotel", "/stays", stay_body(), "stay_id"),
        ("car", "/rentals", rental_body(), "rental_id"),
    ],
)
async def test_issued_ids_match_their_published_pattern(
    make_client: ClientFactory, service: str, path: str, body: dict, parameter: str
) -> None:
    client = make_client(service)
    doc = (await client.get("/openapi.json")).json()
    created = (await client.post(path, json=body)).json()

    read = doc["paths"][f"{path}/{{{parameter}}}"]["get"]["parameters"]
    pattern = next(p["schema"]["pattern"] for p in read if p["name"] == parameter)
    assert re.fullmatch(pattern, created["id"]), (created["id"], pattern)
