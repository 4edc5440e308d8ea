"""What a chaos run did and found."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from starters.audit import AuditReport
from starters.load import LoadReport


@dataclass
class Disruptions:
    """What the run did to the stack, counted as it happened."""

    worker_kills: int = 0
    kills_during_compensation: int = 0
    server_restarts: int = 0
    restarts_during_compensation: int = 0
    outages: int = 0
    orders_seen_compensating: int = 0
    """Orders seen compensating or in needs_attention at least once (visibility, polled every second)."""
    cancelled_mid_compensation: list[str] = field(default_factory=list)
    """Workflow ids of the orders cancelled (twice) while compensating or in needs_attention."""
    failed: int = 0
    """Disruptions that stopped on an error (each one's error is in the events): the run did less than planned."""

    def counts(self) -> dict[str, int]:
        """Every counter, the cancelled orders as their number; for the final output and the JSON file."""
        counts = asdict(self)
        counts["cancelled_mid_compensation"] = len(self.cancelled_mid_compensation)
        return counts

    def summary(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in self.counts().items())


@dataclass
class ChaosReport:
    load: LoadReport
    audit: AuditReport | None = None
    disruptions: Disruptions = field(default_factory=Disruptions)
    service_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
