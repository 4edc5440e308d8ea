"""`cadenza replay`: replay workflow histories against the current workflow code and report every one it could not
continue (a non-determinism error: the code would issue other commands than the history recorded).

Histories come from files (recorded with `cadenza replay-record`, or downloaded from the Web UI) or from the server (a
visibility query). Replaying is CPU-bound and the Python `Replayer` replays one history at a time on one core, so
batches of histories are spread over a pool of processes, one per core. The replayer is configured exactly like the
worker (same workflows, workflow runner, interceptors, data converter, plugins): replaying with anything else would
prove nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer

from cadenza.codec import UNKNOWN_KEY
from cadenza.connection import data_converter
from cadenza.errors import InvalidInput
from cadenza.telemetry import setup_tracing, temporal_plugins
from starters.history_files import HistoryFileError, history_files, load_history
from workers.worker import WORKFLOWS, replay_checks, workflow_runner

# A history to replay: a file, or (workflow id, serialized `History`) fetched from the server. Both are cheap to send
# to a pool process; parsing JSON into protobuf is CPU work and happens there.
HistoryItem = Path | tuple[str, bytes]

DEFAULT_SINCE = timedelta(days=7)
WORKFLOW_TYPE = "OrderWorkflow"
# Large enough to amortise the hand-off to a pool process (~ms), small enough to keep every process busy to the end.
MAX_BATCH = 50
# Fewer histories than this replay in-process: starting the pool's processes (each imports the SDK, the workflows and
# pydantic) costs more than they save; the crossing point is in docs/performance.md.
POOL_THRESHOLD = 500
# Histories fetched from the server at once: fetching is I/O, and one at a time would leave the replayers idle.
FETCH_CONCURRENCY = 16


@dataclass(frozen=True)
class ReplayOutcome:
    workflow_id: str
    run_id: str | None
    error: str | None = None
    event_id: int | None = None
    """The history event the code disagreed with, when the error names it (best effort)."""
    unreadable: bool = False
    """The file is not a workflow history: nothing was replayed, the code is not at fault."""
    key_missing: bool = False
    """Its payloads are encrypted with a key this process lacks: not replayed, the code is not at fault."""


@dataclass
class ReplayReport:
    replayed: int = 0
    failures: list[ReplayOutcome] = field(default_factory=list)
    seconds: float = 0.0
    processes: int = 1

    @property
    def rate(self) -> float:
        """Histories replayed per second of wall time."""
        return self.replayed / self.seconds if self.seconds else 0.0

    def add(self, outcomes: Sequence[ReplayOutcome]) -> None:
        self.replayed += len(outcomes)
        self.failures += [outcome for outcome in outcomes if outcome.error]


def new_replayer(
    *, workflows: Sequence[type] = WORKFLOWS, quiet: bool = False, converter: DataConverter | None = None
) -> Replayer:
    """A replayer that runs workflow code exactly as a Cadenza worker does: same workflow runner, checks
    (`replay_checks`), data converter and plugins (a worker gets its plugins from the client,
    `cadenza.connection.connect`).

    `workflows` defaults to the worker's; tests pass variants of them. `quiet` keeps the SDK core from logging each
    non-determinism as a warning: the report lists them anyway. `converter` defaults to this process's
    (`cadenza.connection.data_converter`, i.e. its keys); tests pass one with their own keys.
    """
    setup_tracing("cadenza-replay")  # the tracing plugin requires its replay-safe tracer provider to be installed
    return Replayer(
        workflows=workflows,
        workflow_runner=workflow_runner(),
        interceptors=replay_checks(),
        data_converter=converter or data_converter(),
        plugins=temporal_plugins(),
        runtime=_quiet_runtime() if quiet else None,
    )


_runtime: Runtime | None = None


def _quiet_runtime() -> Runtime:
    global _runtime  # one per process: a runtime owns threads, and every replayer of the process can share it
    if _runtime is None:
        quiet = TelemetryFilter(core_level="ERROR", other_level="ERROR")
        _runtime = Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=quiet)))
    return _runtime


# ---- where histories come from ------------------------------------------------------------------------------------


class BadReplayInput(InvalidInput, ValueError):
    """An option `cadenza replay` cannot use; the message says what it expects."""


def parse_since(text: str) -> timedelta:
    """'7d', '12h', '30m', '2w' → a timedelta."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise BadReplayInput(f"--since {text!r}: use a number and a unit, e.g. 30m, 12h, 7d, 2w")
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match[2]]
    return timedelta(**{unit: int(match[1])})


def default_query(since: timedelta = DEFAULT_SINCE, now: datetime | None = None) -> str:
    """Every open order workflow whatever its age, and every closed one started within `since`.

    Open orders are the ones a deployment replays for real: the orders waiting days in `needs_attention` for an
    operator are exactly those a new worker (or `order retry-compensation`) will replay, so `since` never drops them.
    """
    start = (now or datetime.now(UTC)) - since
    return (
        f'WorkflowType="{WORKFLOW_TYPE}" AND '
        f'(StartTime > "{start.strftime("%Y-%m-%dT%H:%M:%SZ")}" OR ExecutionStatus="Running")'
    )


@dataclass(frozen=True)
class HistorySource:
    items: AsyncIterator[HistoryItem]
    total: int
    description: str


def histories_from_files(paths: Sequence[Path]) -> HistorySource:
    """History files, and the `*.json` files in the folders among `paths`."""
    files = history_files(paths)
    if not files:
        raise HistoryFileError(f"no *.json history files in {', '.join(map(str, paths))}")

    async def items() -> AsyncIterator[HistoryItem]:
        for path in files:
            yield path

    return HistorySource(items(), len(files), f"{len(files)} history files")


async def histories_from_server(client: Client, query: str, *, limit: int | None = None) -> HistorySource:
    """The histories of the executions, open or closed, that the visibility `query` matches (the first `limit`)."""
    try:
        total = (await client.count_workflows(query)).count
    except RPCError as err:
        if err.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        raise BadReplayInput(f"the server refused the query {query!r}: {err.message}") from None
    if limit is not None:
        total = min(total, limit)
    return HistorySource(_fetch_histories(client, query, limit), total, f"{total} executions matching {query}")


async def _fetch_histories(client: Client, query: str, limit: int | None = None) -> AsyncIterator[HistoryItem]:
    # Not `list_workflows(query).map_histories()`: it fetches one history at a time, and on a remote server the round
    # trips would leave the replay processes idle.
    pending: set[asyncio.Task[HistoryItem | None]] = set()

    async def fetch(workflow_id: str, run_id: str) -> HistoryItem | None:
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # deleted since it was listed (retention): nothing to replay
                return None
            raise
        return workflow_id, History(events=history.events).SerializeToString()

    async def finished(tasks: Iterable[asyncio.Future[HistoryItem | None]]) -> AsyncIterator[HistoryItem]:
        for task in tasks:
            if (item := await task) is not None:
                yield item

    async for execution in client.list_workflows(query, limit=limit):
        pending.add(asyncio.create_task(fetch(execution.id, execution.run_id)))
        if len(pending) >= FETCH_CONCURRENCY:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            async for item in finished(done):
                yield item
    async for item in finished(asyncio.as_completed(pending)):
        yield item


# ---- replaying ------------------------------------------------------------------------------------------------------


def _to_history(item: HistoryItem) -> WorkflowHistory:
    if isinstance(item, Path):
        return load_history(item)
    workflow_id, data = item
    return WorkflowHistory(workflow_id, History.FromString(data).events)


async def replay_items(
    items: Sequence[HistoryItem], *, quiet: bool = False, workflows: Sequence[type] = WORKFLOWS
) -> list[ReplayOutcome]:
    """Replay `items` one after the other in this process; an unreadable file is a failure, not a crash. `workflows`
    as for `new_replayer`."""
    outcomes: list[ReplayOutcome] = []
    histories: list[WorkflowHistory] = []
    for item in items:
        try:
            histories.append(_to_history(item))
        except HistoryFileError as err:
            outcomes.append(ReplayOutcome(workflow_id=str(item), run_id=None, error=str(err), unreadable=True))

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    async with new_replayer(workflows=workflows, quiet=quiet).workflow_replay_iterator(each()) as results:
        async for result in results:
            history, failure = result.history, result.replay_failure
            error = _first_line(failure) if failure else None
            keyless = error is not None and UNKNOWN_KEY in error
            outcomes.append(
                ReplayOutcome(
                    history.workflow_id, history.run_id, error, _event_id(error, history), key_missing=keyless
                )
            )
    return outcomes


def replay_batch(items: list[HistoryItem]) -> list[ReplayOutcome]:
    """Entry point in a pool process."""
    return asyncio.run(replay_items(items, quiet=True))


async def replay(
    items: AsyncIterator[HistoryItem],
    *,
    total: int,
    workers: int,
    on_replayed: Callable[[Sequence[ReplayOutcome]], None] = lambda _: None,
) -> ReplayReport:
    """Replay every item, `workers` processes at a time (in-process for 1 worker or a small `total`)."""
    report = ReplayReport()
    started = time.perf_counter()

    def done(outcomes: Sequence[ReplayOutcome]) -> None:
        report.add(outcomes)
        on_replayed(outcomes)

    batches = _batches(items, _batch_size(total, workers))
    if workers <= 1 or total < POOL_THRESHOLD:
        async for batch in batches:
            done(await replay_items(batch, quiet=True))
    else:
        report.processes = workers
        await _replay_in_pool(batches, workers, done)
    report.seconds = time.perf_counter() - started
    return report


async def _replay_in_pool(
    batches: AsyncIterator[list[HistoryItem]], workers: int, done: Callable[[Sequence[ReplayOutcome]], None]
) -> None:
    loop = asyncio.get_running_loop()
    # spawn, not fork: this process runs the SDK's Rust threads (client, runtime), which a fork would copy mid-flight.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        running: set[asyncio.Future[list[ReplayOutcome]]] = set()
        async for batch in batches:
            running.add(loop.run_in_executor(pool, replay_batch, batch))
            if len(running) >= 2 * workers:  # keep every process fed, without reading every history up front
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in finished:
                    done(future.result())
        for future in asyncio.as_completed(running):
            done(await future)


def _batch_size(total: int, workers: int) -> int:
    # About four batches per process, so a process that drew quick histories picks up more.
    return max(1, min(MAX_BATCH, -(-total // (4 * max(workers, 1)))))


async def _batches(items: AsyncIterator[HistoryItem], size: int) -> AsyncIterator[list[HistoryItem]]:
    batch: list[HistoryItem] = []
    async for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def default_workers() -> int:
    return os.cpu_count() or 1


# ---- making failures readable ---------------------------------------------------------------------------------------

_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')
_EXPLICIT_EVENT_ID = re.compile(r"(?:HistoryEvent\(id: |event id |event_id: )(\d+)")
_SCHEDULED_TYPE = re.compile(r"scheduled event '([^']+)'")
_PATCH_MARKER = re.compile(r"marker encountered for change ([^,\s]+)")


def _first_line(failure: Exception) -> str:
    """The core's own message ("[TMPRL1100] Nondeterminism error: …") rather than the Rust debug dump around it."""
    text = str(failure)
    match = _CORE_MESSAGE.search(text)
    return match[1].replace('\\"', '"').replace("\\'", "'") if match else text.splitlines()[0]


def _event_id(error: str | None, history: WorkflowHistory) -> int | None:
    """The event id named in the error, else that of the first event the error describes."""
    if not error:
        return None
    if match := _EXPLICIT_EVENT_ID.search(error):
        return int(match[1])
    return next((event.event_id for event in history.events if _described_by(error, event)), None)


def _described_by(error: str, event: HistoryEvent) -> bool:
    """A scheduled activity of the type the error names, or the marker of the patch it names."""
    if match := _SCHEDULED_TYPE.search(error):
        return event.activity_task_scheduled_event_attributes.activity_type.name == match[1]
    if match := _PATCH_MARKER.search(error):
        return match[1] in str(event.marker_recorded_event_attributes.details)
    return False
