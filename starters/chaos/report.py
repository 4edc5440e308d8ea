"""What a chaos run did and found."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from activities.audit import AuditReport
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
class Actors:
    """What the product's other users did during the run: reviewers, busy clients, operators resetting orders."""

    orders_by_kind: Counter[str] = field(default_factory=Counter)
    reviews: Counter[str] = field(default_factory=Counter)
    """How the reviews of the orders placed ended (approved, rejected, expired, cancelled), from their results."""
    review_decisions: Counter[str] = field(default_factory=Counter)
    """What the reviewer did: approve, reject, leave (to expire), refused (the order no longer awaited review),
    unanswered (no answer in time), reset runs included."""
    polled_orders: int = 0
    status_queries: int = 0
    """Status reads of the polled orders (each a describe and a `status` query, as `GET /orders/{id}` does)."""
    streams: int = 0
    stream_events: int = 0
    failed_queries: Counter[str] = field(default_factory=Counter)
    """Queries (status or events) the worker answered with a failure, by the failure: a healthy order fails none."""
    resets: Counter[str] = field(default_factory=Counter)
    """Resets by how the order had ended and how its reset run ended: `completed -> compensated`."""
    stuck: dict[str, str] = field(default_factory=dict)
    """Workflow id → why: orders and reset runs whose workflow task kept failing, given up on."""

    def counts(self) -> dict[str, object]:
        """Every figure, for the final output and the JSON file."""
        return {
            "orders_by_kind": dict(self.orders_by_kind),
            "reviews": dict(self.reviews),
            "review_decisions": dict(self.review_decisions),
            "polled_orders": self.polled_orders,
            "status_queries": self.status_queries,
            "streams": self.streams,
            "stream_events": self.stream_events,
            "failed_queries": dict(self.failed_queries),
            "resets": sum(self.resets.values()),
            "reset_outcomes": dict(self.resets),
            "stuck": dict(self.stuck),
        }

    def summary(self) -> str:
        def listed(counts: Counter[str]) -> str:
            return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) or "none"

        return (
            f"orders by kind: {listed(self.orders_by_kind)}; reviews: {listed(self.reviews)} "
            f"(reviewer: {listed(self.review_decisions)}); {self.status_queries} status queries on "
            f"{self.polled_orders} polled orders; {self.streams} event streams, {self.stream_events} events; "
            f"{sum(self.failed_queries.values())} failed queries; "
            f"resets: {listed(self.resets)}; stuck: {len(self.stuck)}"
        )


@dataclass
class ChaosReport:
    load: LoadReport
    audit: AuditReport | None = None
    disruptions: Disruptions = field(default_factory=Disruptions)
    actors: Actors = field(default_factory=Actors)
    service_stats: dict[str, dict[str, int]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
