"""CPU time and peak memory of processes, read from /proc (Linux).

CPU is `utime + stime` of every thread of a process and of its descendants, so a binary that forks helpers is still
counted whole. The difference of two snapshots is what a phase cost each process; other processes' CPU is not in it,
though on a busy machine everything runs slower and costs more.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
# /proc/<pid>/clear_refs: writing 5 resets the peak resident set size (VmHWM) to the current one (Linux ≥ 4.0).
_RESET_PEAK_RSS = "5"


def _stat_fields(pid: int) -> list[str]:
    return _stat_fields_of(_PROC / str(pid) / "stat")


def _stat_fields_of(path: Path) -> list[str]:
    raw = path.read_text()
    # The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    # Linux lists a thread's direct children; the main thread's id is the pid, which covers the usual case.
    try:
        return [int(child) for child in (_PROC / str(pid) / "task" / str(pid) / "children").read_text().split()]
    except OSError:
        return []


def process_tree(pid: int, exclude: Collection[int] = ()) -> list[int]:
    """`pid` and all of its live descendants, except the subtrees rooted at `exclude`."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(child for child in _children(current) if child not in exclude)
    return tree


def cpu_seconds(pid: int, exclude: Collection[int] = ()) -> float:
    """User + system CPU seconds used so far by `pid` and its live descendants outside `exclude` (0 for a process
    that is gone)."""
    total = 0
    for member in process_tree(pid, exclude):
        try:
            fields = _stat_fields(member)
        except OSError:
            continue
        # After the command name: field 14 (utime) and 15 (stime) of proc(5) are at index 11 and 12.
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS_PER_SECOND


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """User + system CPU seconds of each live thread of `pid` (thread id -> seconds; the main thread's id is `pid`)."""
    seconds = {}
    for task in (_PROC / str(pid) / "task").iterdir():
        try:
            fields = _stat_fields_of(task / "stat")
        except OSError:
            continue
        seconds[int(task.name)] = (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND
    return seconds


def _status_kib(pid: int, key: str) -> int | None:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of `pid` in MiB since it started or since `reset_peak_rss`."""
    return (_status_kib(pid, "VmHWM") or 0) / 1024


def rss_mib(pid: int) -> float:
    return (_status_kib(pid, "VmRSS") or 0) / 1024


def reset_peak_rss(pid: int) -> bool:
    """Start measuring the peak afresh; False where the kernel does not allow it (then sample `rss_mib` instead)."""
    try:
        (_PROC / str(pid) / "clear_refs").write_text(_RESET_PEAK_RSS)
    except OSError:
        return False
    return True


def machine_busy_seconds() -> float:
    """CPU seconds all processors spent on anything but idling and waiting for I/O since boot (/proc/stat)."""
    fields = [int(value) for value in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle, iowait = fields[3], fields[4]
    # user nice system idle iowait irq softirq steal [guest guest_nice — already counted in user and nice]
    return (sum(fields[:8]) - idle - iowait) / _TICKS_PER_SECOND


def cpu_count() -> int:
    """Processors this process may run on (what a container or taskset allows, not what the host has)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds used so far by each role (e.g. "server", "worker"), each role being one or more processes, and by
    the whole machine (to tell how much of it other processes took meanwhile)."""

    seconds: Mapping[str, float]
    machine: float = 0.0

    @classmethod
    def take(cls, roles: Mapping[str, Collection[int]]) -> CpuSnapshot:
        # A process named by a role is counted in that role only, not again as a descendant of another (the
        # benchmark's own process is the parent of the whole stack).
        named = {pid for pids in roles.values() for pid in pids}
        return cls(
            {role: sum(cpu_seconds(pid, exclude=named - {pid}) for pid in pids) for role, pids in roles.items()},
            machine_busy_seconds(),
        )

    def since(self, earlier: CpuSnapshot) -> dict[str, float]:
        """CPU seconds per role between the two snapshots, plus "others": what the rest of the machine used."""
        used = {role: self.seconds[role] - earlier.seconds.get(role, 0.0) for role in self.seconds}
        return {**used, "others": max(0.0, self.machine - earlier.machine - sum(used.values()))}
