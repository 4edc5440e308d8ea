"""What `cadenza verify` found: per operation, each probe's verdict with its rule, evidence and consequence, and the
idempotency profile a saga definition reads (`idempotency: {replay: safe|unsafe}`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INFO = "info"
    """Recorded, not relied on (a missing key: Cadenza always sends one)."""
    SKIPPED = "skipped"


class Probe(StrEnum):
    REPLAY = "replay"
    IN_FLIGHT = "in_flight"
    REUSE = "reuse"
    MISSING_KEY = "missing_key"
    ERRORS = "errors"
    SCOPE = "scope"
    FENCE = "fence"


REPLAY_PROBES = frozenset({Probe.REPLAY, Probe.IN_FLIGHT, Probe.REUSE, Probe.ERRORS, Probe.SCOPE})
"""What a retry with the same key relies on: any of them failing makes the operation's replay unsafe."""
DUPLICATING_PROBES = REPLAY_PROBES - {Probe.SCOPE}
"""The replay probes whose failure means the API carried out a second request under a key it had seen (a scope failure
is a request never carried out)."""


class ProbeResult(BaseModel):
    probe: Probe
    verdict: Verdict
    rule: str = Field(description="The draft's MUST/SHOULD or Cadenza's contract clause")
    evidence: str = Field(description="Statuses, effect counts, headers seen")
    consequence: str = Field(description="What it means for a saga")


class Profile(BaseModel):
    """What a saga may rely on for one operation."""

    replay: Literal["safe", "unsafe"]
    fence: Literal["holds", "broken", "absent"]
    replay_header: str | None = None


class OperationReport(BaseModel):
    service: str
    operation: str
    method: str
    path: str
    probes: list[ProbeResult]
    profile: Profile

    @property
    def failed(self) -> list[ProbeResult]:
        return [result for result in self.probes if result.verdict is Verdict.FAIL]


class Cleanup(BaseModel):
    """What was undone after the probes: each request of theirs that wrote, fenced by its key, last first (a
    confirmation before the creation it confirmed), as a saga's compensation would undo it."""

    fenced: int = Field(description="The probes' writing requests fenced after the run")
    undone: int = Field(description="Of those, the ones whose fence undid a record (refund, cancel, release)")
    kept: list[str] = Field(description="Services without a fence: the probes' records stay there")
    refused: list[str] = Field(description="Fences that answered an error, with the answer: records left behind")
    unkeyed: list[str] = Field(
        description="Creations the API carried out without a key (the missing-key probe's): no key to fence them "
        "by, so their records stay"
    )

    @property
    def left_behind(self) -> bool:
        return bool(self.kept or self.refused or self.unkeyed)


class VerifyReport(BaseModel):
    environment: str
    requests: int = Field(description="Requests sent in all, the cleanup's fences included")
    seconds: float
    operations: list[OperationReport]
    cleanup: Cleanup | None = Field(
        default=None, description="What was undone after the probes; none with --keep-records"
    )

    @property
    def ok(self) -> bool:
        return not any(operation.failed for operation in self.operations)

    @property
    def carried_out_twice(self) -> bool:
        """Whether the API carried out a request twice under one key somewhere: a fence undoes one record per key."""
        return any(result.probe in DUPLICATING_PROBES for o in self.operations for result in o.failed)

    def profiles(self) -> dict[str, dict[str, Profile]]:
        """Service -> operationId -> profile: what `profile:` in a saga definition's API reads."""
        by_service: dict[str, dict[str, Profile]] = {}
        for operation in self.operations:
            by_service.setdefault(operation.service, {})[operation.operation] = operation.profile
        return by_service


SAFE_RETRY = "retries after a timeout are safe: the same key replays the first answer"
UNSAFE_RETRY = (
    "not safe: a timed-out call may have executed; Cadenza will not retry it automatically and will reconcile by "
    "lookup (then undo), or stop in needs_attention"
)
