"""The replay check: the open orders this build's workers run, replayed with this build's code.

An open order is pinned to the build it started on (Worker Versioning), so the orders that matter are those pinned to
this process's build (`CADENZA_DEPLOYMENT_NAME`, `CADENZA_BUILD_ID`): a worker of this build runs their next workflow
task, and one whose history this code cannot replay is stuck from then on (or already is). Orders of other builds
finish on their own builds; `cadenza replay` replays any set. The replayer is the worker's (starters.replay).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from temporalio.api.history.v1 import History
from temporalio.common import WorkerDeploymentVersion

from activities.stuck import Recovery, read_task_history
from cadenza.build_id import build_id
from cadenza.settings import deployment_name
from starters.doctor.model import Check, Context, Outcome, failed, passed
from starters.replay import ReplayOutcome, histories_from_server, replay_items
from workers.worker import WORKFLOWS
from workflows.models import WORKFLOW_ID_PREFIX

MAX_REPLAYED = 100
"""Open orders replayed per run: enough to catch a change that breaks every order, few enough for doctor's time limit
(`cadenza replay --query …` replays them all)."""
_LISTED = 3


def orders_of(version: WorkerDeploymentVersion) -> str:
    """The visibility query for the open orders pinned to `version`."""
    return (
        'WorkflowType="OrderWorkflow" AND ExecutionStatus="Running" AND '
        f'TemporalWorkerDeploymentVersion="{version.deployment_name}:{version.build_id}"'
    )


def open_orders_replay(
    version: WorkerDeploymentVersion | None = None, *, workflows: Sequence[type] = WORKFLOWS, limit: int = MAX_REPLAYED
) -> Check:
    """The check for `version`'s open orders (default: this process's build) replayed with `workflows`."""

    async def run(ctx: Context) -> Outcome:
        assert ctx.client is not None
        pinned = version or WorkerDeploymentVersion(deployment_name(), build_id())
        build = f"build {pinned.build_id} of deployment {pinned.deployment_name}"
        source = await histories_from_server(ctx.client, orders_of(pinned), limit=limit)
        items = [item async for item in source.items]
        if not items:
            return passed(f"no open orders of {build} to replay")
        failures = [outcome for outcome in await replay_items(items, quiet=True, workflows=workflows) if outcome.error]
        if not failures:
            return passed(f"{_open_orders(len(items))} of {build} replay with this code")
        histories = dict(item for item in items if isinstance(item, tuple))
        return failed(
            f"{len(failures)} of {_open_orders(len(items))} of {build} cannot be replayed by this code: "
            + _listed(f"{_order(f)} (event {f.event_id}: {f.error})" for f in failures),
            "Each is stuck at its next workflow task, if not already: "
            + _listed(f"{_order(f)}: {_recovery(ctx, f, histories).next_step()}" for f in failures)
            + f". `cadenza replay --query '{orders_of(pinned)}'` lists them all.",
        )

    return Check(
        "open orders replay",
        run,
        needs_temporal=True,
        on_timeout="Too many open orders to replay in time: raise --timeout, or replay them with `cadenza replay` "
        "(every open order, and the closed ones of the last 7 days)",
    )


def _open_orders(count: int) -> str:
    return f"{count} open order{'s' * (count != 1)}"


def _order(outcome: ReplayOutcome) -> str:
    return f"order {outcome.workflow_id.removeprefix(WORKFLOW_ID_PREFIX)}"


def _listed(lines: Iterable[str]) -> str:
    shown = list(lines)
    more = f"; … and {len(shown) - _LISTED} more" if len(shown) > _LISTED else ""
    return "; ".join(shown[:_LISTED]) + more


def _recovery(ctx: Context, outcome: ReplayOutcome, histories: dict[str, bytes]) -> Recovery:
    assert ctx.client is not None
    task_history = read_task_history(History.FromString(histories[outcome.workflow_id]).events)
    # No run id: the history's own says which run it started as, not which run it is after a reset; the open run is
    # the one the reset command then acts on.
    return Recovery(ctx.client.namespace, outcome.workflow_id, None, task_history.build, task_history.last_good_task)


CHECKS = [open_orders_replay()]
