"""The travel saga (examples/sagas/travel.yaml) run by the generic workflow against the real flight, hotel and car
services: another key header, an undo by DELETE, an undo by lookup, a pivot — proven by what the services recorded."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from clients.sagas import load_definition
from clients.sagas.runs import start_run, wait_for_run
from tests.integration.conftest import Harness, TravelServices
from tests.unit.test_saga_examples import EXAMPLES
from workers.worker import order_worker
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SagaState

pytestmark = pytest.mark.integration

RECORDS = {"flight": "bookings", "hotel": "stays", "car": "rentals"}


@pytest.fixture(scope="module")
def travel_saga() -> SagaDefinition:
    return load_definition(EXAMPLES / "travel.yaml")


@pytest_asyncio.fixture(loop_scope="session")
async def travel_queue(harness: Harness, travel_services: TravelServices) -> AsyncIterator[str]:
    """A worker of its own that reaches the travel services (as well as the order services)."""
    task_queue = f"travel-{uuid.uuid4().hex}"
    endpoints = {**harness.config.endpoints(), **travel_services.endpoints}
    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints):
        yield task_queue


def trip_input(**changes: Any) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((EXAMPLES / "travel.input.json").read_text())
    for part, fields in changes.items():
        sample[part] = {**sample[part], **fields}
    return {**sample, "trip_id": f"t-{uuid.uuid4().hex[:10]}"}


async def _statuses(travel: TravelServices, trip_id: str) -> dict[str, list[str]]:
    statuses = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for name, collection in RECORDS.items():
            endpoint = travel.endpoints[name]
            answer = await http.get(
                f"{endpoint.base_url}/{collection}", params={"trip_id": trip_id}, headers=endpoint.auth_headers
            )
            answer.raise_for_status()
            statuses[name] = [item["status"] for item in answer.json()[collection]]
    return statuses


async def test_a_trip_completes_with_its_ticket_issued(
    harness: Harness, travel_services: TravelServices, travel_queue: str, travel_saga: SagaDefinition
):
    run_input = trip_input()
    started = await start_run(harness.client, travel_saga, run_input, task_queue=travel_queue)
    view = await wait_for_run(harness.client, started.run_id)
    assert view.progress is not None and view.state == "completed", view.progress
    assert view.progress.pivoted and view.progress.completed_steps == [step.id for step in travel_saga.steps]
    assert await _statuses(travel_services, run_input["trip_id"]) == {
        "flight": ["ticketed"],
        "hotel": ["booked"],
        "car": ["reserved"],
    }


async def test_a_refused_rental_undoes_the_hotel_by_delete_and_the_flight(
    harness: Harness, travel_services: TravelServices, travel_queue: str, travel_saga: SagaDefinition
):
    run_input = trip_input(car={"days": 0})  # the input schema allows it; the car API refuses it for good (422)
    started = await start_run(harness.client, travel_saga, run_input, task_queue=travel_queue)
    progress = (await wait_for_run(harness.client, started.run_id)).progress
    assert progress is not None
    assert (progress.state, progress.failed_step, progress.pivoted) == (SagaState.COMPENSATED, "rent_car", False)
    undos = {record.action: record for record in progress.compensations}
    assert undos["rent_car"].undone is False  # the lookup by reference found no rental
    assert undos["book_hotel"].undone and undos["book_flight"].undone
    assert await _statuses(travel_services, run_input["trip_id"]) == {
        "flight": ["cancelled"],
        "hotel": ["cancelled"],
        "car": [],
    }
