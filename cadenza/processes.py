"""Child processes that never outlive their parent, and waiting until they are ready."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import httpx

from cadenza.errors import CadenzaError
from cadenza.private_files import PRIVATE_UMASK, open_private_append, private_dir

_PR_SET_PDEATHSIG = 1
_TAIL_BYTES = 64 * 1024


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    # Linux only: if the supervisor is killed outright (SIGKILL, crash), the kernel sends the child SIGTERM, so no
    # dev server or service is left holding a port. Elsewhere this is a no-op and Ctrl-C handling still applies.
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class PortInUse(CadenzaError, RuntimeError):
    """A port this process would serve on is taken: the one message every door prints (`cadenza up`, `api`,
    `codec-server`, `worker`), naming every port variable, with exit code 1."""

    def __init__(self, taken: Sequence[str]) -> None:
        from cadenza.settings import port_variables

        super().__init__(
            f"Port {', '.join(taken)} already in use. Another `cadenza up` may be running: stop it (Ctrl-C in its "
            f"terminal), or move this stack with {', '.join(port_variables())} (0: none of that service)."
        )


def ensure_port_free(host: str, port: int, name: str) -> None:
    """Raise `PortInUse` if `host:port` cannot be bound now, before a server tries (uvicorn would print its own lines
    and exit 3). Binds as uvicorn does (SO_REUSEADDR), so a port left in TIME_WAIT counts as free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # a name (`localhost`) is looked up as IPv4
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            # Only a taken port is ours to report: an address this machine does not have, or a name, is the server's
            # to refuse (after its own checks, such as the codec server's exposure rule).
            if err.errno == errno.EADDRINUSE:
                raise PortInUse([f"{port} ({name})"]) from None


class ProcessFailed(CadenzaError, RuntimeError):
    pass


def hand_over_to_module(module: str, *args: str) -> NoReturn:
    """Become `python -m module args`: the same process (id, signals, stdio, exit code), now running the module.

    How a command of one door (the CLI's `cadenza api`, `cadenza codec-server`) serves another door in the
    foreground without importing it: the served door's own entry point runs, with its own error messages."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *args])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


# Below Linux's ephemeral range (32768-60999 by default). A port the kernel hands out for a bind to port 0 comes from
# that range, where any outgoing connection on the machine may take it before the child binds it: under a loaded test
# run that made stacks fail to start with "address already in use".
_FULL_PORT_RANGE = (20000, 32000)

# Set by `share_free_ports`: the children a process starts (its stack's worker, a `cadenza bench` a test runs) inherit
# the environment, and so pick from their parent's slice too.
FREE_PORT_SLICE_ENV = "CADENZA_FREE_PORT_SLICE"


def _slice(index: int, count: int) -> tuple[int, int]:
    low, high = _FULL_PORT_RANGE
    size = (high - low) // count
    return (low + index * size, low + (index + 1) * size - 1)


def _range_from_environment() -> tuple[int, int]:
    try:
        index, count = (int(part) for part in os.environ.get(FREE_PORT_SLICE_ENV, "").split("/"))
    except ValueError:
        return _FULL_PORT_RANGE
    return _slice(index, count) if 0 <= index < count else _FULL_PORT_RANGE


_FREE_PORT_RANGE = _range_from_environment()
_handed_out: set[int] = set()


def share_free_ports(index: int, count: int) -> None:
    """Hand out ports from slice `index` of `count` of the range only, in this process and the children it starts:
    processes that pick ports side by side (the test suite's processes) then never pick the same port in the moment
    before its server binds it."""
    global _FREE_PORT_RANGE
    _FREE_PORT_RANGE = _slice(index, count)
    os.environ[FREE_PORT_SLICE_ENV] = f"{index}/{count}"


def free_port() -> int:
    """A port nothing listens on right now, and not handed out before by this process (for tests and benchmarks that
    must not touch the user's stack)."""
    chooser = random.SystemRandom()
    for _ in range(500):
        port = chooser.randint(*_FREE_PORT_RANGE)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # a machine with that whole range busy
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ChildProcess:
    """One supervised child: started in its own session (so a terminal's Ctrl-C reaches only the supervisor, which
    then stops the children in order), logging to a file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    # Where this run's output starts in the log. The log is appended to, so an earlier run's lines stay readable, but
    # they must not count for this run: a stale "polling task queue" would pass the worker's readiness at once.
    log_offset: int = 0
    # How long `stop` waits after SIGTERM before SIGKILL: longer for a child that drains work on the way out.
    stop_timeout: float = 10.0

    def start(self) -> None:
        private_dir(self.log_path.parent)
        with os.fdopen(open_private_append(self.log_path), "ab") as log:
            self.log_offset = log.seek(0, os.SEEK_END)
            self.process = subprocess.Popen(
                list(self.argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=_die_with_parent,
                # Everything the child creates (SQLite files with their -wal and -shm, history) is its owner's only.
                umask=PRIVATE_UMASK,
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process else None

    def log_tail(self, lines: int = 15) -> str:
        """The last `lines` lines this run wrote (readiness checks poll it, so it reads at most the last 64 KiB)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(self.log_offset, log.seek(0, os.SEEK_END) - _TAIL_BYTES))
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `stop_timeout` seconds."""
        stop_together([self])

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    async def wait_until(self, ready: Callable[[], Awaitable[bool]], timeout: float) -> None:
        """Poll `ready` until it holds; fail fast, with the log's tail, if the process exits meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            if (code := self.exit_code()) is not None:
                raise ProcessFailed(
                    f"{self.name} exited with code {code} while starting. "
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            if await ready():
                return
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{self.name} was not ready after {timeout:.0f} s. "
                    f"Last lines of {self.log_path}:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)


def http_ok(url: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                return (await client.get(url)).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def stop_together(children: Sequence[ChildProcess]) -> None:
    """SIGTERM to every child at once, then SIGKILL to each that has not exited within its `stop_timeout`: children
    that need not stop in order (the services) stop in the time of the slowest rather than the sum of all."""
    running = [
        (child.process, child.stop_timeout)
        for child in children
        if child.process is not None and child.process.poll() is None
    ]
    for process, _ in running:
        process.send_signal(signal.SIGTERM)
    started = time.monotonic()
    for process, stop_timeout in running:
        try:
            process.wait(max(0.0, stop_timeout - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
