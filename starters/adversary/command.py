"""`cadenza adversary resets|storm`: the full variants of the adversarial suites, each on a stack of its own (fresh
ports and state under `.cadenza/adversary/`), so a user's stack is never touched. Exit 0 when every order ended
true, 1 otherwise (each problem printed with its order id)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import httpx
import typer

from activities.records import ServiceRecords
from cadenza.connection import connect
from cadenza.settings import state_dir
from cadenza.stack import EmbeddedStack
from starters.adversary.resets import ResetFuzzer, ResetTrial
from starters.adversary.scenarios import ScenarioPlayer
from starters.adversary.storm import Storm, StormPlan
from starters.chaos.run import chaos_stack_config
from starters.console import EXIT_PROBLEM, console
from starters.faults import FaultAdmin

adversary_app = typer.Typer(
    help="Adversarial suites: every reset point of every kind of order, a query and update storm on large orders.",
    no_args_is_help=True,
)


@asynccontextmanager
async def _own_stack(name: str) -> AsyncIterator[tuple[EmbeddedStack, Callable[[], Awaitable[None]]]]:
    """A stack with one worker process, and a way to restart that worker (SIGKILL, then a new one)."""
    root = state_dir() / "adversary"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=root))
    console.print(f"{name}: on a stack of its own (state and logs in {folder})")
    stack = EmbeddedStack(chaos_stack_config(folder))
    with console.status("Starting the stack…") as status:
        await stack.start(progress=lambda message: status.update(message + "…"))
    names = (f"worker-{n}" for n in itertools.count(2))

    async def restart_worker() -> None:
        for child in [c for c in stack.children if c.name.startswith("worker") and c.exit_code() is None]:
            child.kill()
            stack.children.remove(child)
        await stack.add_worker(next(names))

    try:
        yield stack, restart_worker
    finally:
        stack.stop()


@adversary_app.command("resets")
def resets(
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="How many times every scenario is played")] = 3,
) -> None:
    """Play every kind of order (completed, declined, out of stock, reviewed three ways, cancelled during each call,
    a compensation healing), reset each to every workflow task it completed, and check every reset run's end state
    against the services' records."""

    async def main() -> list[ResetTrial]:
        async with _own_stack("resets") as (stack, _), httpx.AsyncClient(timeout=30) as http:
            config = stack.config
            client = await connect(address=config.temporal_address, converter=config.data_converter())
            records, faults = ServiceRecords(http, config.endpoints()), FaultAdmin(http, config.endpoints())
            workflow_ids: list[str] = []
            for number in range(1, rounds + 1):
                with console.status(f"Round {number}/{rounds}: playing every scenario…"):
                    player = ScenarioPlayer(client, faults, records, config.task_queue, keys=config.decision_keys())
                    played = await player.play_all()
                workflow_ids += played.values()
            tried = 0

            def one_more(trial: ResetTrial) -> None:
                nonlocal tried
                tried += 1
                mark = "✗" if trial.problems else "✓"
                status.update(
                    f"Resetting {len(workflow_ids)} orders at every point: {tried} resets, last {mark} "
                    f"{trial.workflow_id} @ {trial.event_id} → {trial.ended}"
                )

            with console.status("Resetting…") as status:
                fuzzer = ResetFuzzer(client, records, on_trial=one_more, keys=config.decision_keys())
                report = await fuzzer.fuzz(workflow_ids)
            ends: dict[str, int] = {}
            for trial in report.trials:
                ends[trial.ended] = ends.get(trial.ended, 0) + 1
            console.print(
                f"{len(report.trials)} resets of {len(workflow_ids)} orders; the reset runs ended: "
                + ", ".join(f"{count} {end}" for end, count in sorted(ends.items()))
            )
            return report.problems

    problems = asyncio.run(main())
    for trial in problems:
        console.print(
            f"{trial.workflow_id} reset to event {trial.event_id} ended {trial.ended}: {'; '.join(trial.problems)}",
            style="red",
            markup=False,
        )
    if problems:
        console.print(
            f"{len(problems)} reset(s) left the services disagreeing with the order: see "
            "docs/how-an-order-runs.md (Reset) and `cadenza audit` on the stack folder above."
        )
        raise typer.Exit(EXIT_PROBLEM)
    console.print("Every reset point left a true state.")


@adversary_app.command("storm")
def storm(
    orders: Annotated[int, typer.Option("--orders", min=2, help="Large orders placed at once")] = 100,
    poll_ms: Annotated[int, typer.Option("--poll-ms", min=1, help="Milliseconds between status queries")] = 5,
    poll_s: Annotated[
        float, typer.Option("--poll-s", min=0.1, help="Seconds each order is polled from its start")
    ] = 3.0,
    review_deadline: Annotated[
        int, typer.Option("--review-deadline", min=1, help="Seconds a referred order waits")
    ] = 20,
) -> None:
    """Place large orders (half risk-checked, half referred to review; some approved, the rest left to expire) while
    clients query them every few ms, follow their events and send decisions too early; restart the worker halfway;
    then replay every history and audit every order."""

    async def main() -> bool:
        plan = StormPlan(
            orders=orders,
            poll_every=timedelta(milliseconds=poll_ms),
            poll_for=timedelta(seconds=poll_s),
            review_deadline=timedelta(seconds=review_deadline),
        )
        async with _own_stack("storm") as (stack, restart_worker), httpx.AsyncClient(timeout=30) as http:
            config = stack.config
            client = await connect(address=config.temporal_address, converter=config.data_converter())
            records = ServiceRecords(http, config.endpoints())
            with console.status(f"Storm on {orders} large orders…") as status:
                report = await Storm(
                    client,
                    records,
                    config.task_queue,
                    restart_worker,
                    log=lambda m: status.update(m + "…"),
                    keys=config.decision_keys(),
                ).run(plan)
        console.print(
            f"{report.orders} orders, {report.queries} queries, {report.updates_refused} updates refused; "
            "ended: " + ", ".join(f"{n} {state}" for state, n in sorted(report.ended.items()))
        )
        for order_id, failure in sorted(report.not_replayed.items()):
            console.print(f"{order_id} does not replay: {failure}", style="red", markup=False)
        for problem in report.problems:
            console.print(problem, style="red", markup=False)
        return report.clean

    if not asyncio.run(main()):
        console.print("The storm left orders that do not replay or disagree with the services: see above.")
        raise typer.Exit(EXIT_PROBLEM)
    console.print("Every history replays and every order agrees with the services.")
