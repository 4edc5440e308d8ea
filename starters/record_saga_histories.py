"""`cadenza replay-record --sagas`: run the declared example sagas (examples/sagas/) through every way a run ends and
save each execution's history, so tests/replay holds every future `DeclaredSagaWorkflow` to them.

A run carries its definition in its input, so a history replays with nothing but the workflow code: these files also
prove that a definition edited or deleted since never matters to a run already recorded.

Scenarios (file names): the order saga completed, compensated by a declined card, cancelled mid-run while its
reservation's answer is held, and cancelled while its charge's outcome is unknown (the undo fences the key); the travel
saga completed, compensated by a refused rental (an undo by DELETE and one by lookup), and, in a variant whose rental
comes after the pivot, its rental retried after the pivot until the car service answers; the order saga with a
replay-unsafe charge (undone by lookup) retried by the workflow after two 503s, ending with its outcome unknown after
a stall, and SIGKILLed with its worker mid-request (the server times the attempt out; nothing sends it again).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client

from cadenza.failure_types import OUTCOME_UNKNOWN
from cadenza.settings import settings
from cadenza.stack import EmbeddedStack, StackConfig
from clients.sagas import load_definition
from clients.sagas.runs import StartedRun, start_run, wait_for_run
from starters.faults import FaultAdmin
from starters.history_files import SUFFIX, write_history
from starters.record_histories import HistoriesExist, RecordingFailed
from starters.saga_chaos import replace_a_worker
from starters.saga_examples import EXAMPLES, compiled_copy, order_input, order_with_unsafe_charge, trip_input
from workflows.declared_saga import DeclaredSagaWorkflow
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SagaProgress, SagaState

DEFAULT_SAGA_OUT = Path("tests/histories/declared-sagas")

SCENARIOS_BEFORE_AT_MOST_ONCE = (
    "order_completed",
    "order_declined_card",
    "order_cancelled_mid_run",
    "order_unknown_outcome_fenced",
    "travel_completed",
    "travel_rental_refused",
    "travel_pivot_then_rental_retried",
)
"""What the folders recorded before replay-unsafe steps were sent at most once hold."""
SAGA_SCENARIOS = (
    *SCENARIOS_BEFORE_AT_MOST_ONCE,
    "order_unsafe_charge_retried",
    "order_unsafe_charge_unknown",
    "order_unsafe_charge_worker_killed",
)

# Held long enough for a cancel to arrive while the reservation's answer is on its way.
_RESERVE_STALL_MS = 2000
# Past the 8 s HTTP deadline: the local attempt and the server attempt after it both give up with the outcome unknown.
_CHARGE_SLOW_COMMIT_MS = 9000
# Failed rental attempts after the pivot: the local one and a server-managed retry or two.
_RENTAL_OUTAGE = 3
# 503s before a replay-unsafe charge goes through: each retried by the workflow, after a timer.
_CHARGE_OUTAGE = 2
# A replay-unsafe charge committed with its answer held past the 8 s HTTP deadline: the activity's OutcomeUnknown.
_CHARGE_STALL_MS = 9000
# A replay-unsafe charge committed with its answer held until well after its worker was SIGKILLed and the server
# timed the attempt out (10 s).
_CHARGE_HELD_MS = 30_000


def saga_history_files(out: Path, scenarios: tuple[str, ...] = SAGA_SCENARIOS) -> list[Path]:
    return [out / f"{name}{SUFFIX}" for name in scenarios]


def rental_after_the_pivot() -> SagaDefinition:
    """The travel saga with its rental moved after the ticket (the pivot): a step that must go forward once the
    ticket is issued. Compiled from a copy beside the examples' OpenAPI documents."""
    declaration = yaml.safe_load((EXAMPLES / "travel.yaml").read_text())
    steps = {step["id"]: step for step in declaration["steps"]}
    order = ("book_flight", "book_hotel", "ticket", "rent_car")
    declaration["name"] = "travel-car-after-ticket"
    declaration["steps"] = [steps[name] for name in order]
    return compiled_copy(declaration, "travel_car_after_ticket.yaml")


@dataclass
class SagaRecorder:
    """Plays the saga scenarios on the stack `client` talks to (a worker on `task_queue` reaching the order and the
    travel services) and writes one history file per run to `out`."""

    client: Client
    faults: FaultAdmin
    out: Path
    task_queue: str = field(default_factory=lambda: settings().task_queue)
    overwrite: bool = False
    on_progress: Callable[[str], None] = lambda _: None

    def __post_init__(self) -> None:
        self._tag = uuid.uuid4().hex[:6]

    async def record(self) -> list[Path]:
        existing = [path.name for path in saga_history_files(self.out) if path.exists()]
        if existing and not self.overwrite:
            raise HistoriesExist(
                f"{self.out} already holds recorded saga histories ({', '.join(existing)}); record into a folder of "
                "its own or pass --overwrite."
            )
        order, travel = load_definition(EXAMPLES / "order.yaml"), load_definition(EXAMPLES / "travel.yaml")
        runs = {
            "order_completed": await self._ends(order, order_input(self._id("done")), SagaState.COMPLETED),
            "order_declined_card": await self._ends(
                order, order_input(self._id("declined"), "tok_chargeDeclined"), SagaState.COMPENSATED
            ),
            "order_cancelled_mid_run": await self._cancelled_mid_run(order),
            "order_unknown_outcome_fenced": await self._unknown_outcome_fenced(order),
            "travel_completed": await self._ends(travel, trip_input(self._id("trip")), SagaState.COMPLETED),
            "travel_rental_refused": await self._ends(
                travel, trip_input(self._id("nocar"), car={"days": 0}), SagaState.COMPENSATED
            ),
            "travel_pivot_then_rental_retried": await self._rental_retried_after_the_pivot(),
            **await self._unsafe_charges(),
        }
        written = []
        for name, run_id in runs.items():
            path = self.out / f"{name}{SUFFIX}"
            write_history(path, await self.client.get_workflow_handle(run_id).fetch_history())
            written.append(path)
        return written

    def _id(self, what: str) -> str:
        return f"rec-{self._tag}-{what}"

    async def _start(self, definition: SagaDefinition, run_input: dict[str, Any]) -> StartedRun:
        self.on_progress(f"Running saga {definition.name} for {run_input.get('order_id') or run_input['trip_id']}")
        return await start_run(self.client, definition, run_input, task_queue=self.task_queue)

    async def _ends(self, definition: SagaDefinition, run_input: dict[str, Any], state: SagaState) -> str:
        started = await self._start(definition, run_input)
        _expect(started.run_id, (await wait_for_run(self.client, started.run_id)).progress, state)
        return started.run_id

    async def _cancelled_mid_run(self, order: SagaDefinition) -> str:
        """The reservation commits and its answer is held; the cancel arrives meanwhile: everything is undone."""
        run_input = order_input(self._id("cancelled"))
        async with self._faults_on("inventory", stall_ms=_RESERVE_STALL_MS, kind="stall", times=1, match="/reserve/"):
            started = await self._start(order, run_input)
            await self._until(started, lambda progress: progress.current_step == "reserve")
            await asyncio.sleep(0.5)
            await started.handle.cancel()
            progress = (await wait_for_run(self.client, started.run_id)).progress
        _expect(started.run_id, progress, SagaState.COMPENSATED, reason="cancelled on request")
        return started.run_id

    async def _unknown_outcome_fenced(self, order: SagaDefinition) -> str:
        """Every charge attempt outlives its HTTP deadline; the cancel stops the step with its outcome unknown and
        the undo fences the charge's key."""
        run_input = order_input(self._id("unknown"))
        slow = self._faults_on(
            "payment", slow_commit_ms=_CHARGE_SLOW_COMMIT_MS, kind="slow_commit", times=2, match="/charge/"
        )
        async with slow:
            started = await self._start(order, run_input)
            await asyncio.sleep(1.0)
            await started.handle.cancel()
            progress = (await wait_for_run(self.client, started.run_id)).progress
            await asyncio.sleep(_CHARGE_SLOW_COMMIT_MS / 1000)  # the late commits meet the fence before the reset
        _expect(started.run_id, progress, SagaState.COMPENSATED, reason="cancelled on request")
        assert progress is not None
        undo = {record.action: record for record in progress.compensations}.get("charge")
        if "charge" in progress.completed_steps or undo is None or "fenced" not in (undo.detail or ""):
            raise RecordingFailed(f"{started.run_id}: the charge's outcome was meant to stay unknown, and be fenced")
        return started.run_id

    async def _rental_retried_after_the_pivot(self) -> str:
        run_input = trip_input(self._id("pivot"))
        await self.faults.script("car", "error", times=_RENTAL_OUTAGE, match=run_input["trip_id"])
        try:
            started = await self._start(rental_after_the_pivot(), run_input)
            progress = (await wait_for_run(self.client, started.run_id)).progress
        finally:
            await self.faults.unscript("car", run_input["trip_id"])
        _expect(started.run_id, progress, SagaState.COMPLETED)
        assert progress is not None
        if not progress.pivoted:
            raise RecordingFailed(f"{started.run_id}: completed without passing its pivot")
        return started.run_id

    async def _unsafe_charges(self) -> dict[str, str]:
        """The order saga with a replay-unsafe charge (starters/saga_examples.py): two 503s, each retried by the
        workflow after a timer, then charged; a charge whose answer outlives the HTTP deadline (OutcomeUnknown, the
        refund by lookup); a charge whose worker is SIGKILLed while the answer is held (the server times the attempt
        out, nothing sends it again, a new worker refunds it by lookup)."""
        unsafe = order_with_unsafe_charge({"replay": "unsafe"})
        retried = order_input(self._id("unsafe-retried"))
        await self.faults.script("payment", "error", times=_CHARGE_OUTAGE, match=_charge_of(retried))
        try:
            retried_run = await self._ends(unsafe, retried, SagaState.COMPLETED)
        finally:
            await self.faults.unscript("payment", _charge_of(retried))
        unknown = order_input(self._id("unsafe-unknown"))
        async with self._faults_on(
            "payment", stall_ms=_CHARGE_STALL_MS, kind="stall", times=1, match=_charge_of(unknown)
        ):
            unknown_run = await self._ends(unsafe, unknown, SagaState.COMPENSATED)
        return {
            "order_unsafe_charge_retried": retried_run,
            "order_unsafe_charge_unknown": _refunded_once(unknown_run, await self._ended(unknown_run)),
            "order_unsafe_charge_worker_killed": await self._unsafe_charge_worker_killed(unsafe),
        }

    async def _unsafe_charge_worker_killed(self, unsafe: SagaDefinition) -> str:
        run_input = order_input(self._id("unsafe-killed"))
        # Worker processes of their own, on a task queue of their own: the command's worker must not take the run.
        workers = EmbeddedStack(StackConfig.from_settings().with_(task_queue=f"{self.task_queue}-{self._tag}-killed"))
        held = self._faults_on("payment", stall_ms=_CHARGE_HELD_MS, kind="stall", times=1, match=_charge_of(run_input))
        try:
            async with held:
                await workers.add_worker("worker-recording")
                stalls = (await self.faults.stats("payment"))["stalls_injected"]
                started = await start_run(self.client, unsafe, run_input, task_queue=workers.config.task_queue)
                async with asyncio.timeout(30):
                    while (await self.faults.stats("payment"))["stalls_injected"] == stalls:
                        await asyncio.sleep(0.1)
                self.on_progress(f"SIGKILL the worker of {run_input['order_id']} while its charge is in flight")
                await replace_a_worker(workers, "worker-recording-2")
                progress = (await wait_for_run(self.client, started.run_id)).progress
        finally:
            await asyncio.to_thread(workers.stop)
        _expect(started.run_id, progress, SagaState.COMPENSATED)
        return _refunded_once(started.run_id, progress)

    async def _ended(self, run_id: str) -> SagaProgress | None:
        return (await wait_for_run(self.client, run_id)).progress

    def _faults_on(self, service: str, *, kind: str, times: int, match: str, **config: int) -> _Faults:
        return _Faults(self.faults, service, {**config, "script": [{"kind": kind, "times": times, "match": match}]})

    async def _until(self, started: StartedRun, reached: Callable[[SagaProgress], bool], timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while not reached(await started.handle.query(DeclaredSagaWorkflow.status)):
                await asyncio.sleep(0.05)


@dataclass
class _Faults:
    """A service's fault configuration for the length of a block, then back to what it was."""

    admin: FaultAdmin
    service: str
    config: dict[str, Any]
    _before: dict[str, Any] = field(default_factory=dict)

    async def __aenter__(self) -> None:
        self._before = await self.admin.get(self.service)
        await self.admin.set(self.service, self.config)

    async def __aexit__(self, *_: object) -> None:
        await self.admin.set(self.service, self._before)


def _charge_of(run_input: dict[str, Any]) -> str:
    """What a scripted fault matches to hit only this run's charge: its key (`order-<id>/charge/<run id>`)."""
    return f"{run_input['order_id']}/charge/"


def _refunded_once(run_id: str, progress: SagaProgress | None) -> str:
    """`run_id`, after checking its charge's outcome was unknown and the undo by lookup found it and refunded it."""
    undo = {record.action: record for record in progress.compensations}.get("charge") if progress else None
    if progress is None or progress.error_type != OUTCOME_UNKNOWN or undo is None or not undo.undone:
        raise RecordingFailed(f"{run_id}: the charge was meant to end with its outcome unknown, then be refunded")
    return run_id


def _expect(run_id: str, progress: SagaProgress | None, state: SagaState, *, reason: str | None = None) -> None:
    if progress is None or progress.state != state or (reason and progress.reason != reason):
        ended = f"{progress.state} ({progress.reason})" if progress else "without readable progress"
        raise RecordingFailed(f"saga run {run_id} ended {ended}, expected {state}" + (f" ({reason})" if reason else ""))
