"""`cadenza bench` as the terminal sees it: options in, progress, the tables, exit codes and `--json`."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import typer

from starters.bench.profiles import DEFAULT_PROFILES
from starters.bench.render import print_report
from starters.bench.runner import BenchOptions, run_bench
from starters.console import console


def bench_command(
    *,
    sequential: int,
    burst: int,
    warmup: int,
    curve: str | None,
    profiles: list[str],
    json_file: Path | None,
    profile_worker: Path | None = None,
) -> None:
    options = BenchOptions(
        sequential=sequential,
        burst=burst,
        warmup=warmup,
        curve=BenchOptions.parse_curve(curve),
        profiles=tuple(profiles) or DEFAULT_PROFILES,
        profile_worker=profile_worker,
    )
    command = shlex.join(["cadenza", *sys.argv[1:]])
    try:
        report = asyncio.run(run_bench(options, console, command=command))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    print_report(report, console)
    if json_file is not None:
        report.write_json(json_file)
        console.print(f"Every figure of this run: {json_file}")
    if profile_worker is not None:
        console.print(f"The worker's CPU by part (cadenza profile's burst): {profile_worker}")
