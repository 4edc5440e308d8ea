"""The saga audit's rules (activities/saga_audit.py) and the inputs the saga chaos run and the benchmark make."""

from __future__ import annotations

import json

import pytest

from activities.records import TripRecords
from activities.saga_audit import SagaRunEnd, saga_run_problems, trip_problems
from clients.sagas import load_definition
from clients.sagas.runs import validate_input
from starters.demo import SAMPLE_CONTACT
from starters.saga_chaos import SagaChaosPlan, chaos_inputs
from starters.saga_examples import EXAMPLES, order_saga_input
from tests.conftest import make_order
from workflows.saga_run_models import SagaProgress, SagaState


def _trip(flight: list[str], hotel: list[str], car: list[str]) -> TripRecords:
    statuses = {"flight": flight, "hotel": hotel, "car": car}
    return TripRecords("t-1", {name: [{"status": status} for status in got] for name, got in statuses.items()})


def test_a_completed_trip_needs_every_record_live_and_one_of_each():
    assert trip_problems(SagaState.COMPLETED, _trip(["ticketed"], ["booked"], ["reserved"])) == []
    assert trip_problems(SagaState.COMPLETED, _trip(["held"], ["booked"], ["reserved", "reserved"])) == [
        "flight: ['held'], expected one ticketed",
        "car: ['reserved', 'reserved'], expected one reserved",
    ]


def test_a_compensated_trip_leaves_nothing_live():
    assert trip_problems(SagaState.COMPENSATED, _trip(["cancelled"], ["cancelled"], [])) == []
    assert trip_problems(SagaState.COMPENSATED, _trip(["held"], [], ["cancelled", "reserved"])) == [
        "flight: ['held'] still live after compensation",
        "car: ['reserved'] still live after compensation",
    ]


@pytest.mark.parametrize("state", [SagaState.RUNNING, SagaState.NEEDS_ATTENTION, None])
async def test_a_run_not_closed_as_completed_or_compensated_is_a_problem_by_itself(state):
    progress = SagaProgress(name="travel", content_hash="h", state=state) if state else None
    end = SagaRunEnd("r", load_definition(EXAMPLES / "travel.yaml"), {"trip_id": "t"}, progress)
    [problem] = await saga_run_problems(end, records=None)  # type: ignore[arg-type]  # never read
    assert problem.startswith("not closed as completed or compensated")


def test_chaos_inputs_are_unique_fit_the_schema_and_some_are_refused_for_good():
    for name, refused in (("order", ("payment_token", "tok_chargeDeclined")), ("travel", ("car", None))):
        definition = load_definition(EXAMPLES / f"{name}.yaml")
        sample = json.loads((EXAMPLES / f"{name}.input.json").read_text())
        inputs = chaos_inputs(definition, sample, SagaChaosPlan(runs=20, failing_share=0.5, seed=2), "x")
        for run_input in inputs:
            validate_input(definition, run_input)
        assert len({json.dumps(run_input, sort_keys=True) for run_input in inputs}) == 20
        field, value = refused
        changed = [run_input for run_input in inputs if run_input[field] != sample[field]]
        assert 0 < len(changed) < 20
        if value:
            assert {run_input[field] for run_input in changed} == {value}
        else:
            assert {run_input["car"]["days"] for run_input in changed} == {0}


def test_the_benchmarks_saga_input_is_the_order_and_fits_the_definition():
    order = make_order().model_copy(update=SAMPLE_CONTACT)
    run_input = validate_input(load_definition(EXAMPLES / "order.yaml"), order_saga_input(order))
    assert (run_input["order_id"], run_input["total_amount"]) == (order.order_id, order.total_amount)
