"""What each benchmark profile runs. A profile is data; `rig` turns it into running processes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    temporal: bool = True
    """False for the baseline: the services only, called directly."""
    tuned_server: bool = True
    """The dev server with Cadenza's dynamic config (cadenza.stack.TUNED_DYNAMIC_CONFIG), else its defaults."""
    worker_in_starter: bool = False
    """The worker runs inside the benchmark's own process (like samples-python), not in its own (like `cadenza up`)."""
    sdk_default_worker: bool = False
    """The worker with the SDK's default options and sandbox instead of Cadenza's (workers.worker.worker_options)."""
    eager_start: bool = True
    """Ask for eager workflow start (effective only when the starting process runs a worker, see clients/orders.py)."""
    via_api: bool = False
    """Orders placed over HTTP through the Order API, served by a process of its own as `cadenza up` runs it."""
    encrypted: bool = True
    """Payloads encrypted (cadenza/codec.py) as the embedded stack always does; off only to measure the codec's cost."""
    declared_saga: bool = False
    """The orders run as the declared order saga (examples/sagas/order.yaml) by DeclaredSagaWorkflow."""
    persisted: bool = False
    """The dev server keeps its history in a SQLite file (`--db-filename`) as `cadenza up` does, not in memory."""
    floor: bool = False
    """Not Cadenza's workflow: the least a Temporal workflow making the same calls costs (starters/bench/floor.py)."""

    @property
    def traced(self) -> bool:
        """Cadenza's client is traced as `cadenza order place` is; the sample-style reference and the floor are not."""
        return not (self.sdk_default_worker or self.floor)


DIRECT = Profile("direct", "the same HTTP calls from a plain asyncio function, no Temporal", temporal=False)
CADENZA = Profile("cadenza", "as shipped: `cadenza up` (tuned dev server, worker in its own process) + order place")
# `cadenza up` keeps history on disk; the in-memory `cadenza` profile prices the orchestration without the database's
# writes (SQLite syncs each one), the `persisted` profile with them, as a real deployment pays them.
PERSISTED = Profile(
    "persisted",
    "as shipped, with the dev server's history on disk (a SQLite file, as `cadenza up` keeps it)",
    persisted=True,
)
CADENZA_IN_PROCESS = Profile(
    "cadenza-in-process", "as shipped, but the worker in the starter's process with eager start", worker_in_starter=True
)
PLAINTEXT = Profile("cadenza-plaintext", "as shipped, but payloads not encrypted: the codec's cost", encrypted=False)
UNTUNED = Profile(
    "untuned",
    "sample-style: default dev server, SDK-default worker (sandboxed) in the starter's process, no eager start",
    tuned_server=False,
    worker_in_starter=True,
    sdk_default_worker=True,
    eager_start=False,
)
# The API in its own process, not in the benchmark's: in-process uvicorn would share this process's CPU (one core at
# most, with the GIL) with the load generator, and the figures would price the generator as much as the API.
API = Profile(
    "api",
    "the cadenza profile + the Order API in its own process; orders placed over HTTP, Prefer: wait=60",
    via_api=True,
)

DECLARED_SAGA = Profile(
    "declared-saga",
    "as shipped, but each order run as the declared order saga (examples/sagas/order.yaml) by DeclaredSagaWorkflow",
    declared_saga=True,
)

# Temporal's own cost for one workflow and one local activity making the five calls, and nothing of Cadenza's: the
# part of `cadenza`'s cost no Cadenza code can remove. Its worker runs in the benchmark's process, as `direct`'s do.
FLOOR = Profile(
    "floor",
    "Temporal's floor: one bare workflow per order, one local activity making direct's five calls, nothing else",
    worker_in_starter=True,
    encrypted=False,
    floor=True,
)

PROFILES = {
    profile.name: profile
    for profile in (DIRECT, FLOOR, CADENZA, PERSISTED, API, PLAINTEXT, CADENZA_IN_PROCESS, UNTUNED, DECLARED_SAGA)
}
DEFAULT_PROFILES = (DIRECT.name, FLOOR.name, CADENZA.name, PERSISTED.name, API.name, UNTUNED.name)
