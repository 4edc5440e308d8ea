"""What a check is, what it answers, and what every check can read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import httpx
from temporalio.api.common.v1 import Payload
from temporalio.client import Client


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    """Works, but not as a production deployment should (no encryption, a codec server doctor may not call)."""
    FAIL = "fail"
    SKIP = "skip"
    """Not checked, because a check it depends on failed: counts as not passed."""


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    fix: str = ""


def passed(detail: str) -> Outcome:
    return Outcome(Status.PASS, detail)


def warned(detail: str, fix: str) -> Outcome:
    return Outcome(Status.WARN, detail, fix)


def failed(detail: str, fix: str) -> Outcome:
    return Outcome(Status.FAIL, detail, fix)


@dataclass(frozen=True)
class Result:
    check: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status.value, "detail": self.detail, "fix": self.fix}


@dataclass
class Context:
    """Shared by the checks, filled in as they go: later checks use what earlier ones found."""

    http: httpx.AsyncClient
    connection: dict[str, Any] = field(default_factory=dict)
    """The `Client.connect` arguments of the active profile (cadenza.connection.connect_config)."""
    client: Client | None = None
    """Set once Temporal answered; checks that need it are skipped otherwise."""
    sample: Payload | None = None
    """A payload this process encrypted, for the codec server to decrypt."""


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[Context], Awaitable[Outcome]]
    needs_temporal: bool = False
    on_timeout: str = ""
    """The fix to print when the check did not answer in time."""
