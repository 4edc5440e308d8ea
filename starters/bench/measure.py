"""The phases of one profile: warm-up, sequential latency, a metered burst and (optionally) the load curve."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from starters.bench.anatomy import inspect_orders
from starters.bench.cpu_profile import profiling
from starters.bench.load import Burst, run_burst, run_sequential
from starters.bench.procstats import CpuSnapshot, peak_rss_mib, reset_peak_rss, rss_mib
from starters.bench.progress import BenchProgress
from starters.bench.report import CurvePoint, ProfileResult
from starters.bench.rig import Rig
from starters.bench.workload import OrderSource
from workflows.models import Order

RSS_SAMPLE_INTERVAL_S = 0.05
# The profile whose worker `--profile-worker` samples: Cadenza as shipped, its worker in a process of its own.
PROFILED = "cadenza"
# How many of the one-at-a-time orders have their histories read for the anatomy (all take the same path).
ANATOMY_ORDERS = 10


@dataclass(frozen=True)
class Plan:
    warmup: int
    sequential: int
    burst: int
    profile_worker: Path | None = None
    """Write the worker's CPU by part over the cadenza profile's burst here (starters/bench/cpu_profile.py)."""
    command: str = "cadenza bench"


class PeakMemory:
    """Peak resident memory of one process over a block: VmHWM reset at the start, or RSS sampled where the kernel
    refuses the reset."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._sampled = 0.0
        self._sampler: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakMemory:
        if not reset_peak_rss(self._pid):
            self._sampler = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler

    async def _sample(self) -> None:
        while True:
            self._sampled = max(self._sampled, rss_mib(self._pid))
            await asyncio.sleep(RSS_SAMPLE_INTERVAL_S)

    @property
    def mib(self) -> float:
        return self._sampled if self._sampler is not None else peak_rss_mib(self._pid)


async def _metered_burst(
    rig: Rig, orders: Sequence[Order], progress: BenchProgress, plan: Plan
) -> tuple[Burst, dict[str, float], float]:
    advance = progress.phase(f"{rig.profile.name}: {len(orders)} started at once", len(orders))
    # The profiler's own CPU (a process of its own) is not metered; the worker's grows by its pauses (--nonblocking:
    # none) and by nothing else, so the burst's figures stay comparable with and without it.
    profile_to = plan.profile_worker if rig.profile.name == PROFILED else None
    profiler = profiling(rig.worker_pid, len(orders)) if profile_to else contextlib.nullcontext()
    async with profiler as profile, PeakMemory(rig.worker_pid) as memory:
        before = CpuSnapshot.take(rig.roles)
        burst = await run_burst(rig.fulfil, orders, advance)
        cpu = CpuSnapshot.take(rig.roles).since(before)
    if profile_to is not None and profile is not None:
        profile_to.write_text(profile.render(plan.command))
        profile_to.with_suffix(".collapsed").write_text(profile.collapsed)
    return burst, cpu, memory.mib


async def measure_profile(rig: Rig, orders: OrderSource, plan: Plan, progress: BenchProgress) -> ProfileResult:
    name = rig.profile.name
    # Not measured: the first orders pay for connections, imports and caches that every later order finds warm.
    await run_sequential(rig.fulfil, orders.take(plan.warmup), progress.phase(f"{name}: warm-up", plan.warmup))
    one_at_a_time = orders.take(plan.sequential)
    sequential = await run_sequential(
        rig.fulfil, one_at_a_time, progress.phase(f"{name}: one at a time", plan.sequential)
    )
    anatomy = None
    if rig.client is not None:
        progress.status(f"{name}: reading what the server recorded of {ANATOMY_ORDERS} orders")
        anatomy = await inspect_orders(
            rig.client, [rig.workflow_id_of(order) for order in one_at_a_time[-ANATOMY_ORDERS:]]
        )
    decisions = None
    if rig.decide_payment is not None:
        # Placing the same order again answers once it has closed (one order, one execution): the settle step.
        decisions = await run_sequential(
            rig.decide_payment,
            orders.take(plan.sequential),
            progress.phase(f"{name}: payment decision, one at a time", plan.sequential),
            settle=rig.fulfil,
        )
    at_once = orders.take(plan.burst)
    burst, cpu, peak = await _metered_burst(rig, at_once, progress, plan)
    burst_anatomy = None
    if rig.client is not None:
        # Under load a local first attempt may time out and go to the server: the burst's orders say how often.
        sampled = at_once[:: max(len(at_once) // ANATOMY_ORDERS, 1)][:ANATOMY_ORDERS]
        burst_anatomy = await inspect_orders(rig.client, [rig.workflow_id_of(order) for order in sampled])
    return ProfileResult.of(
        name,
        rig.profile.summary,
        sequential,
        burst,
        cpu,
        peak,
        worker_in_starter=rig.worker_in_this_process,
        payment_decision=decisions,
        anatomy=anatomy.to_dict() if anatomy else None,
        burst_anatomy=burst_anatomy.to_dict() if burst_anatomy else None,
    )


async def measure_curve(
    rig: Rig, orders: OrderSource, levels: Sequence[int], progress: BenchProgress
) -> list[CurvePoint]:
    """Throughput and latency at each level of orders started at once, lowest first."""
    points = []
    for level in sorted(levels):
        advance = progress.phase(f"{rig.profile.name}: curve, {level} at once", level)
        points.append(CurvePoint.of(await run_burst(rig.fulfil, orders.take(level), advance)))
    return points
