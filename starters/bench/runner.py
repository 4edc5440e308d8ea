"""One benchmark run: each profile on its own stack, one after the other, then the report."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console

from cadenza.binaries import temporal_cli
from cadenza.errors import CadenzaError, InvalidInput
from starters.bench.measure import Plan, measure_curve, measure_profile
from starters.bench.profiles import CADENZA, DEFAULT_PROFILES, PROFILES
from starters.bench.progress import BenchProgress
from starters.bench.report import BenchReport
from starters.bench.rig import running
from starters.bench.workload import OrderSource


class BadBenchOptions(InvalidInput, ValueError):
    """The options cannot make a meaningful run; the message says which and what to pass instead."""


class BenchFailed(CadenzaError, RuntimeError):
    """The run could not finish; the message says where the processes' logs were kept."""


@dataclass(frozen=True)
class BenchOptions:
    sequential: int = 50
    burst: int = 500
    warmup: int = 5
    curve: tuple[int, ...] = ()
    profiles: tuple[str, ...] = DEFAULT_PROFILES
    profile_worker: Path | None = None

    def __post_init__(self) -> None:
        unknown = [name for name in self.profiles if name not in PROFILES]
        if unknown:
            raise BadBenchOptions(f"unknown profile {', '.join(unknown)}; choose from {', '.join(PROFILES)}")
        if not self.profiles:
            raise BadBenchOptions(f"no profile to run; choose from {', '.join(PROFILES)}")
        if self.sequential < 1 or self.burst < 1 or self.warmup < 0 or any(level < 1 for level in self.curve):
            raise BadBenchOptions(
                "--sequential, --burst and every --curve level must be at least 1 (--warmup at least 0)"
            )
        if self.profile_worker is not None and CADENZA.name not in self.profiles:
            raise BadBenchOptions(
                f"--profile-worker samples the {CADENZA.name} profile's worker; add --profile {CADENZA.name}"
            )
        if self.curve and CADENZA.name not in self.profiles:
            raise BadBenchOptions(f"--curve measures the {CADENZA.name} profile; add --profile {CADENZA.name}")

    @staticmethod
    def parse_curve(text: str | None) -> tuple[int, ...]:
        """`"10,100,1000"` -> (10, 100, 1000)."""
        if not text:
            return ()
        try:
            return tuple(int(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise BadBenchOptions(
                f"--curve {text!r}: give whole numbers separated by commas, e.g. 10,100,1000"
            ) from None

    def plan(self, command: str) -> Plan:
        return Plan(self.warmup, self.sequential, self.burst, profile_worker=self.profile_worker, command=command)


async def run_bench(options: BenchOptions, console: Console, command: str = "cadenza bench") -> BenchReport:
    """Run every selected profile on a fresh stack in a temporary folder; the folder is removed after a clean run and
    kept (with every process's log) after a failed one."""
    run_id = uuid.uuid4().hex[:8]
    binary, origin = temporal_cli()
    report = BenchReport(
        run_id,
        command,
        {**asdict(options), "profile_worker": str(options.profile_worker or "")},
        temporal=f"{binary} ({origin})",
    )
    root = Path(tempfile.mkdtemp(prefix=f"cadenza-bench-{run_id}-"))
    orders = OrderSource(run_id)
    try:
        with BenchProgress(console) as progress:
            for name in options.profiles:
                profile = PROFILES[name]
                async with running(profile, root / name, run_id, progress.status) as rig:
                    report.profiles.append(await measure_profile(rig, orders, options.plan(command), progress))
                    if options.curve and profile is CADENZA:
                        report.curve = await measure_curve(rig, orders, options.curve, progress)
    except Exception as err:
        raise BenchFailed(f"{err}\nThe logs of every process of this run are kept in {root}.") from err
    shutil.rmtree(root, ignore_errors=True)
    return report
