"""The saga audit: reconcile each run of a declared example saga with what the services themselves recorded.

A run is judged by how it ended (its final progress) against the services' records of its business id:
- a `completed` run: every step's record is live (the order saga: ERP order confirmed, exactly one live charge of the
  total, one committed reservation; the travel saga: the flight ticketed, the stay booked, the rental reserved);
- a `compensated` run (a cancelled one included): nothing live at any service;
- any other end (still running, needs_attention, failed, terminated) is a problem by itself.

Which rules apply follows from the services a definition calls, so a variant of an example (steps reordered, another
name) is audited like the example; a definition over other services has no rules here and is reported as such.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from activities.audit import Inconsistency
from activities.consistency import inconsistencies
from activities.records import OrderRecords, ServiceRecords, TripRecords
from cadenza.settings import SERVICE_NAMES, TRAVEL_SERVICE_NAMES
from workflows.models import OrderState
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SagaProgress, SagaState

# A trip's record at each service that holds something for it (a held flight is booked, not yet ticketed).
LIVE_TRIP_STATUSES = {"flight": ("held", "ticketed"), "hotel": ("booked",), "car": ("reserved",)}
COMPLETED_TRIP_STATUSES = {"flight": "ticketed", "hotel": "booked", "car": "reserved"}


@dataclass(frozen=True)
class SagaRunEnd:
    """How one run ended, as the audit needs it: its definition, its input and its final progress (None when it
    could not be read)."""

    run_id: str
    definition: SagaDefinition
    run_input: dict[str, Any]
    progress: SagaProgress | None


@dataclass
class SagaAuditReport:
    runs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[Inconsistency] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def services_of(definition: SagaDefinition) -> set[str]:
    return {step.call.service for step in definition.steps}


def trip_problems(state: SagaState, records: TripRecords) -> list[str]:
    """Every way a trip's records contradict a run that ended in `state`."""
    problems = []
    for service, live in LIVE_TRIP_STATUSES.items():
        statuses = records.statuses(service)
        held = [status for status in statuses if status in live]
        if state == SagaState.COMPLETED and held != [COMPLETED_TRIP_STATUSES[service]]:
            problems.append(f"{service}: {statuses}, expected one {COMPLETED_TRIP_STATUSES[service]}")
        elif state == SagaState.COMPENSATED and held:
            problems.append(f"{service}: {held} still live after compensation")
    return problems


def order_saga_problems(state: SagaState, run_input: dict[str, Any], records: OrderRecords) -> list[str]:
    """The order audit's own rules (activities/consistency.py), for the order saga's run of the same order."""
    return inconsistencies(OrderState(state.value), int(run_input["total_amount"]), records)


async def saga_run_problems(end: SagaRunEnd, records: ServiceRecords) -> list[str]:
    """Every way the services' records contradict how `end`'s run ended; empty when they agree."""
    state = end.progress.state if end.progress else None
    if state not in (SagaState.COMPLETED, SagaState.COMPENSATED):
        return [f"not closed as completed or compensated: {state.value if state else 'no readable progress'}"]
    services = services_of(end.definition)
    if services <= set(SERVICE_NAMES):
        order_id = str(end.run_input["order_id"])
        return order_saga_problems(state, end.run_input, await records.for_order(order_id))
    if services <= set(TRAVEL_SERVICE_NAMES):
        return trip_problems(state, await records.for_trip(str(end.run_input["trip_id"])))
    return [f"no audit rules for a saga over {', '.join(sorted(services))}"]


async def audit_saga_runs(ends: Iterable[SagaRunEnd], records: ServiceRecords) -> SagaAuditReport:
    report = SagaAuditReport()
    for end in ends:
        report.runs += 1
        report.outcomes[end.progress.state.value if end.progress else "unreadable"] += 1
        report.problems += [Inconsistency(end.run_id, problem) for problem in await saga_run_problems(end, records)]
    return report
