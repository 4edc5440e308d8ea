"""The figures of a benchmark run, their ratios, and the JSON `--json FILE` writes."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from starters.bench.load import Burst, Latencies
from starters.bench.procstats import cpu_count

CPU_ROLES = ("server", "worker", "services", "api", "starter")

# The ratios worth a line: each is (profile A's figure) / (profile B's figure).
RATIO_METRICS = (
    "sequential_p50_ms",
    "sequential_p99_ms",
    "throughput",
    "burst_p99_ms",
    "cpu_total_ms_per_order",
    "cpu_worker_ms_per_order",
    "worker_peak_mib",
)
RATIO_PAIRS = (
    ("cadenza", "direct"),
    ("persisted", "direct"),
    ("floor", "direct"),
    ("cadenza", "floor"),
    ("cadenza", "untuned"),
    ("api", "cadenza"),
)


@dataclass(frozen=True)
class ProfileResult:
    profile: str
    summary: str
    sequential_orders: int
    sequential_p50_ms: float
    sequential_p99_ms: float
    burst_orders: int
    burst_seconds: float
    throughput: float
    """Orders completed per second with `burst_orders` started at once."""
    burst_p50_ms: float
    burst_p99_ms: float
    cpu_ms_per_order: dict[str, float]
    """Per role (server, worker, services, api, starter) and in total, over the burst."""
    worker_peak_mib: float
    worker_in_starter: bool
    """The worker ran in the benchmark's own process: its CPU and memory include the load generator's."""
    others_cpu_share: float
    """Share of the machine's CPU capacity that processes outside the benchmark used during the burst. Above a few
    percent the figures come from a busy machine: latency and throughput suffer first, but CPU per order grows too
    (shared caches and cores: on this project's 2-CPU VM up to +50 % with the machine half taken)."""
    payment_decision_p50_ms: float | None = None
    """One at a time, from placing an order to the API's answer at its payment decision (`Prefer: wait=payment`);
    None for profiles that do not place orders through the API."""
    payment_decision_p99_ms: float | None = None
    anatomy: dict[str, float] | None = None
    """Per order, from the server's records of a few one-at-a-time orders (starters/bench/anatomy.py): state
    transitions, workflow tasks, activity tasks, local activities, upserts, events. None for direct."""
    burst_anatomy: dict[str, float] | None = None
    """The same, from a few of the orders started at once."""

    @classmethod
    def of(
        cls,
        profile: str,
        summary: str,
        sequential: Latencies,
        burst: Burst,
        cpu_seconds: dict[str, float],
        worker_peak_mib: float,
        worker_in_starter: bool,
        payment_decision: Latencies | None = None,
        anatomy: dict[str, float] | None = None,
        burst_anatomy: dict[str, float] | None = None,
    ) -> ProfileResult:
        per_order = {role: cpu_seconds.get(role, 0.0) * 1000 / burst.orders for role in CPU_ROLES}
        return cls(
            profile=profile,
            summary=summary,
            sequential_orders=len(sequential.samples_ms),
            sequential_p50_ms=sequential.p50,
            sequential_p99_ms=sequential.p99,
            burst_orders=burst.orders,
            burst_seconds=burst.elapsed_s,
            throughput=burst.throughput,
            burst_p50_ms=burst.latencies.p50,
            burst_p99_ms=burst.latencies.p99,
            cpu_ms_per_order={**per_order, "total": sum(per_order.values())},
            worker_peak_mib=worker_peak_mib,
            worker_in_starter=worker_in_starter,
            others_cpu_share=cpu_seconds.get("others", 0.0) / (burst.elapsed_s * cpu_count()),
            payment_decision_p50_ms=payment_decision.p50 if payment_decision else None,
            payment_decision_p99_ms=payment_decision.p99 if payment_decision else None,
            anatomy=anatomy,
            burst_anatomy=burst_anatomy,
        )

    def metric(self, name: str) -> float:
        if name.startswith("cpu_") and name.endswith("_ms_per_order"):
            return self.cpu_ms_per_order[name.removeprefix("cpu_").removesuffix("_ms_per_order")]
        return float(getattr(self, name))


@dataclass(frozen=True)
class CurvePoint:
    """One level of the load curve: `in_flight` orders started at once."""

    in_flight: int
    seconds: float
    throughput: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, burst: Burst) -> CurvePoint:
        return cls(burst.orders, burst.elapsed_s, burst.throughput, burst.latencies.p50, burst.latencies.p99)


def ratios(results: list[ProfileResult]) -> dict[str, dict[str, float | None]]:
    """`"cadenza/direct"` -> metric -> ratio, for each pair whose two profiles ran (None where B's figure is 0)."""
    by_name = {result.profile: result for result in results}
    table: dict[str, dict[str, float | None]] = {}
    for a, b in RATIO_PAIRS:
        if a in by_name and b in by_name:
            table[f"{a}/{b}"] = {
                metric: (by_name[a].metric(metric) / by_name[b].metric(metric)) if by_name[b].metric(metric) else None
                for metric in RATIO_METRICS
            }
    return table


@dataclass(frozen=True)
class GoalCheck:
    """One profile against the direct baseline of the same run, on issue 26's goal (Restate's level, in memory and with
    history on disk alike): one at a time p50 at most 2× direct's, throughput with the burst started at once at least
    0.5× direct's, CPU per order (all processes) at most 2× direct's."""

    profile: str
    p50_ratio: float
    throughput_ratio: float
    cpu_ratio: float

    TARGETS: ClassVar[dict[str, tuple[str, float]]] = {
        "p50_ratio": ("≤", 2.0),
        "throughput_ratio": ("≥", 0.5),
        "cpu_ratio": ("≤", 2.0),
    }

    @classmethod
    def all_of(cls, results: list[ProfileResult]) -> list[GoalCheck]:
        direct = next((result for result in results if result.profile == "direct"), None)
        if direct is None or not (direct.sequential_p50_ms and direct.throughput and direct.cpu_ms_per_order["total"]):
            return []
        return [
            cls(
                profile=result.profile,
                p50_ratio=result.sequential_p50_ms / direct.sequential_p50_ms,
                throughput_ratio=result.throughput / direct.throughput,
                cpu_ratio=result.cpu_ms_per_order["total"] / direct.cpu_ms_per_order["total"],
            )
            for result in results
            if result is not direct
        ]

    def verdicts(self) -> dict[str, bool]:
        return {
            name: (getattr(self, name) <= bound if sign == "≤" else getattr(self, name) >= bound)
            for name, (sign, bound) in self.TARGETS.items()
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.verdicts()}


@dataclass(frozen=True)
class FrontDoor:
    """What placing orders through the Order API costs, against the cadenza profile of the same run (issue 10's
    targets: at most 5 ms more one at a time, at least 90 % of the throughput, the payment decision in at most 60 % of
    the full order's time)."""

    p50_added_ms: float
    """api one-at-a-time p50 minus cadenza's."""
    throughput_share: float
    """api burst throughput / cadenza's."""
    payment_decision_share: float | None
    """api payment-decision p50 / api full order p50 (both one at a time, both over HTTP)."""

    TARGET_P50_ADDED_MS = 5.0
    TARGET_THROUGHPUT_SHARE = 0.90
    TARGET_PAYMENT_DECISION_SHARE = 0.60

    @classmethod
    def of(cls, results: list[ProfileResult]) -> FrontDoor | None:
        by_name = {result.profile: result for result in results}
        api, cadenza = by_name.get("api"), by_name.get("cadenza")
        if api is None or cadenza is None:
            return None
        decided = api.payment_decision_p50_ms
        return cls(
            p50_added_ms=api.sequential_p50_ms - cadenza.sequential_p50_ms,
            throughput_share=api.throughput / cadenza.throughput if cadenza.throughput else 0.0,
            payment_decision_share=decided / api.sequential_p50_ms if decided and api.sequential_p50_ms else None,
        )

    def verdicts(self) -> dict[str, bool | None]:
        share = self.payment_decision_share
        return {
            "p50_added_ms": self.p50_added_ms <= self.TARGET_P50_ADDED_MS,
            "throughput_share": self.throughput_share >= self.TARGET_THROUGHPUT_SHARE,
            "payment_decision_share": None if share is None else share <= self.TARGET_PAYMENT_DECISION_SHARE,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.verdicts()}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, Any]:
    return {
        "nproc": cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gib": _ram_gib(),
        "python": platform.python_version(),
        "load_average_at_start": round(os.getloadavg()[0], 2),
        # Two known costs on machines like these (docs/performance.md): without sniffio httpcore pays a failed import
        # per request; without .pyc files a sandboxed worker recompiles workflow modules per run.
        "sniffio_installed": importlib.util.find_spec("sniffio") is not None,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
    }


@dataclass
class BenchReport:
    run_id: str
    command: str
    options: dict[str, Any]
    machine: dict[str, Any] = field(default_factory=machine)
    temporal: str = ""
    profiles: list[ProfileResult] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)

    @property
    def ratios(self) -> dict[str, dict[str, float | None]]:
        return ratios(self.profiles)

    @property
    def front_door(self) -> FrontDoor | None:
        return FrontDoor.of(self.profiles)

    @property
    def goal(self) -> list[GoalCheck]:
        return GoalCheck.all_of(self.profiles)

    def to_dict(self) -> dict[str, Any]:
        front_door = self.front_door
        return {
            **asdict(self),
            "ratios": self.ratios,
            "front_door": front_door.to_dict() if front_door else None,
            "goal": [check.to_dict() for check in self.goal],
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
