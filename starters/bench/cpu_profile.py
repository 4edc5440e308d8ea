"""`cadenza bench --profile-worker FILE`: the worker's CPU by part (workflow activations, HTTP, tracing, conversion…)
over the cadenza profile's burst, from py-spy sampling the worker process from outside (no code change in it).

Two sources, combined: /proc gives each thread's CPU, which splits the worker into its event loop's thread (activities,
HTTP, tracing, conversion, the SDK's bridge) and the others: the SDK Core's Rust threads (gRPC, the workflow state
machines; py-spy cannot see into them without --native) and the thread pool the SDK runs workflow activations in;
py-spy's samples of the loop's thread split its CPU into parts by the innermost frame that belongs to one. py-spy is
a dev dependency: `pip install 'py-spy>=0.4'` (the `dev` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.errors import CadenzaError
from starters.bench.procstats import thread_cpu_seconds

SAMPLES_PER_SECOND = 250

# Innermost frame first: the first part whose marker is in a frame's file names the sample. Order matters where a
# part wraps another (tracing wraps HTTP calls; conversion happens inside activations).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("encryption (codec)", ("cadenza/codec.py", "cryptography/")),
    ("conversion (pydantic, payloads)", ("pydantic", "temporalio/converter.py", "(json/")),
    ("tracing (OpenTelemetry)", ("opentelemetry/",)),
    ("metrics", ("prometheus_client/", "workers/metrics.py", "workflows/metrics.py")),
    ("logging", ("(logging/", "cadenza/logs.py")),
    ("HTTP (httpx, httpcore, h11)", ("httpx/", "httpcore/", "h11/", "anyio/", "sniffio/")),
    ("workflow activations", ("temporalio/worker/_workflow", "temporalio/workflow.py", "workflows/")),
    ("activities", ("temporalio/worker/_activity.py", "activities/")),
    ("SDK, Python side (bridge, worker loop)", ("temporalio/",)),
    ("asyncio event loop", ("asyncio/",)),
)
OTHER = "other Python"


class ProfilerUnavailable(CadenzaError, RuntimeError):
    """py-spy is missing or may not attach; the message says how to get it."""


def _part(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for part, markers in PARTS:
            if any(marker in frame for marker in markers):
                return part
    return OTHER


# Samples that are not CPU work of the event loop's thread: the loop waiting in epoll, and other threads (the default
# executor's, idle in their queue), which py-spy reports even without --idle when it samples --nonblocking.
_IDLE_LEAVES = ("selectors.py", "concurrent/futures/thread.py:81", "threading.py:")
_OTHER_THREAD_ROOT = "Thread._bootstrap"


def _counts(stack: str) -> bool:
    frames = stack.split(";")
    return (
        bool(stack)
        and not frames[0].startswith(_OTHER_THREAD_ROOT)
        and not any(marker in frames[-1] for marker in _IDLE_LEAVES)
    )


def parse_collapsed(text: str) -> Counter[str]:
    """py-spy's `--format raw` (collapsed stacks, `frame;frame;… count` a line) -> samples of the event loop's thread
    at work, per part."""
    parts: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit() and _counts(stack):
            parts[_part(stack)] += int(count)
    return parts


@dataclass
class WorkerProfile:
    pid: int
    orders: int = 0
    python_thread_s: float = 0.0
    other_threads_s: float = 0.0
    samples: Counter[str] = field(default_factory=Counter)
    collapsed: str = ""
    """py-spy's collapsed stacks, for a flame graph (speedscope.app, flamegraph.pl)."""

    def render(self, command: str) -> str:
        per_order = 1000 / self.orders if self.orders else 0.0
        total = sum(self.samples.values()) or 1
        lines = [
            f"Worker CPU by part over {self.orders} orders started at once (cadenza profile), pid {self.pid}",
            f"Reproduce: {command}",
            "",
            f"{'part':<42} {'ms/order':>9} {'share':>7}",
        ]
        for part, count in self.samples.most_common():
            share = count / total
            lines.append(f"{part:<42} {share * self.python_thread_s * per_order:>9.2f} {share:>7.1%}")
        lines += [
            f"{'= Python thread (asyncio loop), /proc':<42} {self.python_thread_s * per_order:>9.2f}",
            f"{'other threads, /proc (SDK Core, activations)':<42} {self.other_threads_s * per_order:>9.2f}",
            "",
            f"Parts split the Python thread's CPU by py-spy's samples ({total} at {SAMPLES_PER_SECOND}/s), each",
            "sample named by its innermost frame that belongs to a part (starters/bench/cpu_profile.py, PARTS).",
        ]
        return "\n".join(lines) + "\n"


@contextlib.asynccontextmanager
async def profiling(pid: int, orders: int) -> AsyncIterator[WorkerProfile]:
    """Sample `pid` for the length of the block; the profile is filled in on the way out."""
    # Beside this interpreter first: a venv's scripts need not be on PATH.
    py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if py_spy is None:
        raise ProfilerUnavailable(
            "py-spy is not installed: pip install 'py-spy>=0.4' (the dev extra of pyproject.toml)"
        )
    profile = WorkerProfile(pid, orders)
    with tempfile.TemporaryDirectory(prefix="cadenza-profile-") as folder:
        raw = Path(folder) / "worker.txt"
        process = await asyncio.create_subprocess_exec(
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(SAMPLES_PER_SECOND),
            "--nonblocking",
            "--output",
            str(raw),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        before = thread_cpu_seconds(pid)
        try:
            yield profile
        finally:
            after = thread_cpu_seconds(pid)
            if process.returncode is None:
                process.send_signal(signal.SIGINT)  # py-spy writes what it sampled on Ctrl-C
            _, stderr = await process.communicate()
        if not raw.exists():
            raise ProfilerUnavailable(
                f"py-spy recorded nothing ({stderr.decode(errors='replace').strip()}); it needs ptrace on the worker "
                "(as root, or kernel.yama.ptrace_scope=0)"
            )
        profile.collapsed = raw.read_text()
        profile.samples = parse_collapsed(profile.collapsed)
    profile.python_thread_s = after.get(pid, 0.0) - before.get(pid, 0.0)
    profile.other_threads_s = sum(after.values()) - sum(before.values()) - profile.python_thread_s
