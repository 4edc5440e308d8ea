"""What a chaos run does: how many orders, which faults, and which disruptions when."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cadenza.errors import InvalidInput
from cadenza.settings import SERVICE_NAMES
from workflows.policies import STEP_RETRY_BUDGET


@dataclass(frozen=True)
class Outage:
    """One service answering 503 to every write for `seconds`."""

    service: str
    seconds: float

    def __str__(self) -> str:
        return f"{self.service} for {self.seconds:g} s"


# Longer than a forward step's deadline: orders waiting on the service give up and compensate while it is still
# down, so their compensations retry through the rest of the outage.
DEFAULT_OUTAGE = Outage("payment", STEP_RETRY_BUDGET.total_seconds() + 30)


class InvalidOutage(InvalidInput, ValueError):
    pass


def parse_outage(text: str) -> Outage | None:
    """`SERVICE:SECONDS` (e.g. `payment:150`), or `none` for no outage."""
    if text.strip().lower() in ("", "none"):
        return None
    service, sep, raw_seconds = (part.strip() for part in text.partition(":"))
    if not sep or service not in SERVICE_NAMES:
        services = ", ".join(SERVICE_NAMES)
        raise InvalidOutage(f"{text!r}: expected SERVICE:SECONDS with SERVICE one of {services}, or none")
    try:
        seconds = float(raw_seconds)
    except ValueError:
        raise InvalidOutage(f"{text!r}: {raw_seconds!r} is not a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise InvalidOutage(f"{text!r}: an outage lasts more than 0 and at most 3600 seconds")
    return Outage(service, seconds)


class InvalidPlan(InvalidInput, ValueError):
    pass


@dataclass(frozen=True)
class ChaosPlan:
    orders: int = 500
    concurrency: int = 50
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int = 2
    kill_every_s: float = 15.0
    """Seconds between worker SIGKILLs; one more comes as soon as orders are compensating. 0: no kills."""
    restart_server: bool = True
    """Restart the dev server once, while orders are compensating (or at half the orders if none ever is)."""
    seed: int = 1
    outage: Outage | None = None
    outage_after: float = 0.1
    """Share of the orders closed when the outage starts."""
    cancel_every: int = 0
    """Cancel (twice) the 1st, (N+1)th, (2N+1)th … order seen compensating or in needs_attention. 0: none."""

    # The rest of the product, each actor sized here (0 switches it off).
    large_share: float = 0.10
    """Share of the orders of 1,000.00 EUR up to the review limit: risk-checked, and let through."""
    review_share: float = 0.06
    """Share of the orders above the review limit: the risk rules refer them to manual review."""
    review_deadline_s: int = 25
    """Each order's review deadline, set as CADENZA_REVIEW_DEADLINE sets it for whoever places an order: short, so
    the orders the reviewer leaves alone expire within the run."""
    reject_share: float = 0.2
    expire_share: float = 0.2
    """Of the orders referred to review, those the reviewer rejects and those it leaves to expire (it approves the
    rest)."""
    pollers: int = 20
    """Orders whose status is queried every few ms from the moment they are placed (during their first workflow task)
    for a few seconds, as a client polling `GET /orders/{id}` does."""
    streams: int = 10
    """Orders whose progress events are read until they close, as the Order API's event stream reads them."""
    resets: int = 10
    """Orders reset, once closed, to a random completed workflow task of their history; each reset run is awaited."""

    def __post_init__(self) -> None:
        if self.large_share + self.review_share > 1 or min(self.large_share, self.review_share) < 0:
            raise InvalidPlan("--large-share and --review-share are each at least 0 and together at most 1")
        if self.reject_share + self.expire_share > 1 or min(self.reject_share, self.expire_share) < 0:
            raise InvalidPlan("--reject-share and --expire-share are each at least 0 and together at most 1")
