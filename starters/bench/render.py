"""The benchmark's tables, as printed at the end of a run (and pasted into docs/performance.md)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table

from starters.bench.profiles import FLOOR
from starters.bench.report import CPU_ROLES, RATIO_METRICS, BenchReport, FrontDoor, GoalCheck, ProfileResult

# Above this share of the machine taken by other processes during a burst, the run says its timings are unreliable.
BUSY_MACHINE_SHARE = 0.05

_RATIO_LABELS = {
    "sequential_p50_ms": "one at a time, p50",
    "sequential_p99_ms": "one at a time, p99",
    "throughput": "throughput (higher is better)",
    "burst_p99_ms": "burst p99",
    "cpu_total_ms_per_order": "CPU per order, all processes",
    "cpu_worker_ms_per_order": "CPU per order, worker",
    "worker_peak_mib": "worker peak memory",
}


def _profile_label(result: ProfileResult) -> str:
    return result.profile + (" *" if result.worker_in_starter else "")


def _speed_table(report: BenchReport) -> Table:
    table = Table(title="Latency and throughput")
    table.add_column("profile")
    for column in ("p50 ms", "p99 ms"):
        table.add_column(f"one at a time\n{column}", justify="right")
    # Next to the full order's p50: how soon a checkout can say "paid" (profiles behind the Order API only).
    decisions = any(result.payment_decision_p50_ms is not None for result in report.profiles)
    if decisions:
        table.add_column("payment decided\np50 ms", justify="right")
    for column in ("orders/s", "p50 ms", "p99 ms"):
        table.add_column(f"at once\n{column}", justify="right")
    for result in report.profiles:
        decided = result.payment_decision_p50_ms
        table.add_row(
            _profile_label(result),
            f"{result.sequential_p50_ms:.1f}",
            f"{result.sequential_p99_ms:.1f}",
            *([("—" if decided is None else f"{decided:.1f}")] if decisions else []),
            f"{result.throughput:.1f}",
            f"{result.burst_p50_ms:.0f}",
            f"{result.burst_p99_ms:.0f}",
        )
    return table


def _cost_table(report: BenchReport) -> Table:
    burst = report.profiles[0].burst_orders if report.profiles else 0
    table = Table(title=f"CPU ms per order and worker memory, over the {burst} orders started at once")
    table.add_column("profile")
    for role in (*CPU_ROLES, "total"):
        table.add_column(role, justify="right")
    table.add_column("worker peak\nMiB", justify="right")
    for result in report.profiles:
        cpu = result.cpu_ms_per_order
        table.add_row(
            _profile_label(result),
            *(f"{cpu[role]:.1f}" for role in (*CPU_ROLES, "total")),
            f"{result.worker_peak_mib:.0f}",
        )
    table.caption = (
        "* the worker (for direct: the calling code) ran in the benchmark's own process, so its CPU and memory "
        "include the load generator's."
    )
    return table


def _busy_machine_warning(report: BenchReport) -> str | None:
    busy = [f"{r.profile} {r.others_cpu_share:.0%}" for r in report.profiles if r.others_cpu_share > BUSY_MACHINE_SHARE]
    if not busy:
        return None
    return (
        f"[yellow]Other processes used part of the machine during the bursts ({', '.join(busy)} of its CPU): "
        "every figure is worse than the machine can do, latency and throughput most. Re-run on a quiet machine.[/]"
    )


def _ratios_table(report: BenchReport) -> Table | None:
    ratios = report.ratios
    if not ratios:
        return None
    table = Table(title="Ratios")
    table.add_column("metric")
    for pair in ratios:
        table.add_column(pair, justify="right")
    for metric in RATIO_METRICS:
        cells = [ratios[pair][metric] for pair in ratios]
        table.add_row(_RATIO_LABELS[metric], *("—" if value is None else f"{value:.2f}×" for value in cells))
    return table


_ANATOMY_COLUMNS = {
    "state_transitions": "state\ntransitions",
    "workflow_tasks": "workflow\ntasks",
    "activity_tasks": "activity\ntasks",
    "local_activities": "local\nactivities",
    "calls": "calls",
    "upserts": "search attr.\nupserts",
    "events": "history\nevents",
}


def _anatomy_table(report: BenchReport) -> Table | None:
    inspected = [result for result in report.profiles if result.anatomy]
    if not inspected:
        return None
    orders = int(inspected[0].anatomy["orders"]) if inspected[0].anatomy else 0
    table = Table(title=f"Where an order's cost goes: what the server recorded per order (mean of {orders})")
    table.add_column("profile")
    for label in _ANATOMY_COLUMNS.values():
        table.add_column(label, justify="right")
    for result in inspected:
        for label, anatomy in (("one at a time", result.anatomy), ("at once", result.burst_anatomy)):
            if anatomy:
                table.add_row(f"{result.profile}, {label}", *(f"{anatomy[key]:.1f}" for key in _ANATOMY_COLUMNS))
    return table


_GOAL_LABELS = {
    "p50_ratio": "one at a time p50 / direct",
    "throughput_ratio": "throughput at once / direct",
    "cpu_ratio": "CPU per order / direct",
}


def _goal_table(report: BenchReport) -> Table | None:
    checks = report.goal
    if not checks:
        return None
    table = Table(title="Against the goal (issue 26): each profile / direct, this run")
    table.add_column("ratio")
    table.add_column("target", justify="right")
    for check in checks:
        table.add_column(check.profile, justify="right")
    verdicts = [check.verdicts() for check in checks]
    for name, label in _GOAL_LABELS.items():
        sign, bound = GoalCheck.TARGETS[name]
        cells = [
            f"{getattr(check, name):.2f}× " + ("[green]met[/]" if met[name] else "[red]not met[/]")
            for check, met in zip(checks, verdicts, strict=True)
        ]
        table.add_row(label, f"{sign} {bound:g}×", *cells)
    if any(check.profile == FLOOR.name for check in checks):
        table.caption = (
            "floor: Temporal alone, with nothing of Cadenza's (starters/bench/floor.py); a target the floor misses "
            "cannot be met on this machine by any code of Cadenza's."
        )
    return table


def _front_door_table(report: BenchReport) -> Table | None:
    front_door = report.front_door
    if front_door is None:
        return None
    met = front_door.verdicts()
    share = front_door.payment_decision_share
    rows = [
        (
            "api p50 − cadenza p50, one at a time",
            f"{front_door.p50_added_ms:+.1f} ms",
            f"≤ {FrontDoor.TARGET_P50_ADDED_MS:g} ms",
            met["p50_added_ms"],
        ),
        (
            "api / cadenza throughput, at once",
            f"{front_door.throughput_share:.0%}",
            f"≥ {FrontDoor.TARGET_THROUGHPUT_SHARE:.0%}",
            met["throughput_share"],
        ),
        (
            "payment decision p50 / full order p50 (api)",
            "—" if share is None else f"{share:.0%}",
            f"≤ {FrontDoor.TARGET_PAYMENT_DECISION_SHARE:.0%}",
            met["payment_decision_share"],
        ),
    ]
    table = Table(title="The Order API's cost (api vs cadenza, this run)")
    for column in ("figure", "measured", "target", "met"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for label, measured, target, ok in rows:
        table.add_row(label, measured, target, "—" if ok is None else ("[green]yes[/]" if ok else "[red]no[/]"))
    return table


def _curve_table(report: BenchReport) -> Table | None:
    if not report.curve:
        return None
    table = Table(title="Load curve (cadenza profile)")
    for column in ("started at once", "seconds", "orders/s", "p50 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for point in report.curve:
        table.add_row(
            str(point.in_flight),
            f"{point.seconds:.1f}",
            f"{point.throughput:.1f}",
            f"{point.p50_ms:.0f}",
            f"{point.p99_ms:.0f}",
        )
    return table


def print_report(report: BenchReport, console: Console) -> None:
    machine = report.machine
    console.print(
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['ram_gib']} GiB RAM, Python "
        f"{machine['python']}, load average {machine['load_average_at_start']} at the start",
        f"Temporal: {report.temporal}",
        f"Command: {report.command}",
        sep="\n",
    )
    tables = (
        _speed_table(report),
        _cost_table(report),
        _anatomy_table(report),
        _ratios_table(report),
        _goal_table(report),
        _front_door_table(report),
        _curve_table(report),
    )
    console.print(Group(*(table for table in tables if table is not None)))
    if (warning := _busy_machine_warning(report)) is not None:
        console.print(warning)
