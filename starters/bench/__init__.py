"""`cadenza bench`: what the orchestration costs, measured against the same HTTP calls made without it.

One run starts its own embedded stack per profile (temporary state folder, free ports, faults off, history in
memory), places benchmark orders (`bench-<run>-<n>`, good cards, in-stock SKUs) and reports latency, throughput,
CPU per order and worker memory side by side. Modules, each with one job:

- `profiles`  — what each profile runs (direct calls, Cadenza as shipped, through its Order API, with SDK/server
  defaults);
- `rig`       — starting a profile's stack and handing back the order function and the pids to meter;
- `direct`    — the baseline: an order's five HTTP calls from a plain asyncio function;
- `workload`  — benchmark orders, and placing one through Temporal;
- `api`       — the `api` profile: its key, its API process's settings, placing one order over HTTP;
- `load`      — sequential and burst load against any order function, with latency percentiles;
- `procstats` — CPU time and peak memory of processes, from /proc;
- `measure`   — the phases of one profile (warm-up, sequential, burst, curve);
- `report`    — the figures, ratios and JSON; `render` prints them;
- `progress`  — the bars while it runs; `runner` ties it all together; `command` is `cadenza bench` itself.
"""

from starters.bench.report import BenchReport
from starters.bench.runner import BenchOptions, run_bench

__all__ = ["BenchOptions", "BenchReport", "run_bench"]
