"""The data contract of the reconciler (`ReconcileWorkflow`): what a run checks, what it repairs, what it raises.

Shared by the workflow, its activities and the `cadenza reconcile` commands, like workflows/models.py is for orders.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

# Past this many, a run lists no more (it still counts them): a result must stay far below Temporal's 2 MB payload
# limit however broken the services are.
MAX_LISTED = 200


def short_duration(value: timedelta) -> str:
    """`timedelta(hours=24)` → '24h', as the `--window`/`--every` options spell it."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReconcileInput(_Model):
    """What one run looks at. The defaults are the schedule's."""

    window: timedelta = Field(default=timedelta(hours=24), description="Orders started, or records written, within.")
    grace: timedelta = Field(
        default=timedelta(minutes=2),
        description="Orders whose execution closed, or whose records changed, more recently are left for the next "
        "run: an order mid-flight is never repaired.",
    )
    prefix: str = Field(default="", description="Only orders whose id starts with this (tests, one tenant).")
    max_repairs: int = Field(
        default=500,
        ge=0,
        description="Repairs per run; the rest wait for the next run, so one run cannot flood a service.",
    )


class RepairAction(StrEnum):
    REFUND_CHARGE = "refund_charge"
    RELEASE_RESERVATION = "release_reservation"
    CANCEL_ERP_ORDER = "cancel_erp_order"


_VERBS = {
    RepairAction.REFUND_CHARGE: "refund charge",
    RepairAction.RELEASE_RESERVATION: "release reservation",
    RepairAction.CANCEL_ERP_ORDER: "cancel ERP order",
}


class Repair(_Model):
    """One safe, idempotent undo of one record, and why."""

    action: RepairAction
    order_id: str
    target: str = Field(description="The charge id, reservation id or ERP order id the repair acts on.")
    reason: str
    judged_as: str = Field(
        description="How the order looked when the repair was planned ('compensated', 'cancelled', 'completed', "
        "'no execution'); the repair is skipped if it no longer does (e.g. a reset started it again)."
    )

    @property
    def idempotency_key(self) -> str:
        """Derived from the record, not the run: every run that repairs this record sends the same key, so two
        runs (or a retried attempt after a lost reply) act once."""
        return f"reconcile/{self.action.value}/{self.target}"

    def describe(self) -> str:
        return f"{_VERBS[self.action]} {self.target} of order {self.order_id}"


class Finding(_Model):
    """An inconsistency left for a person: not safe to repair, or its repair failed."""

    order_id: str
    message: str


class Survey(_Model):
    """What the check found: the repairs to make and what stays wrong even once they are made."""

    orders: int = Field(description="Orders checked (closed, settled, in the window).")
    open_orders: int = Field(description="Left to their own workflow: running, compensating, needs_attention.")
    deferred: int = Field(description="Closed or changed within the grace period: checked by a later run.")
    repairs: list[Repair] = Field(default_factory=list)
    repairs_postponed: int = Field(default=0, description="Planned beyond max_repairs: left for the next run.")
    problems: list[Finding] = Field(default_factory=list)
    problems_total: int = 0
    notes: list[str] = Field(default_factory=list)


class RepairStatus(StrEnum):
    PENDING = "pending"
    REPAIRED = "repaired"
    ALREADY_DONE = "already_done"
    """Someone else undid it between the check and the repair: nothing left to do."""
    SKIPPED = "skipped"
    """The order no longer looks as it did when the repair was planned; the next run judges it afresh."""
    FAILED = "failed"


class RepairOutcome(_Model):
    repair: Repair
    status: RepairStatus = RepairStatus.PENDING
    detail: str = ""


class ReconcileReport(BaseModel):
    """The run's progress (the `progress` query) and, once done, its result."""

    window: timedelta
    grace: timedelta
    prefix: str = ""
    phase: str = "checking"
    orders: int = 0
    open_orders: int = 0
    deferred: int = 0
    repairs: list[RepairOutcome] = Field(default_factory=list)
    repairs_postponed: int = 0
    unrepaired: list[Finding] = Field(default_factory=list)
    unrepaired_total: int = Field(default=0, description="All of them, also those beyond the listed MAX_LISTED.")
    notes: list[str] = Field(default_factory=list)

    def count(self, status: RepairStatus) -> int:
        return sum(1 for outcome in self.repairs if outcome.status == status)

    @property
    def clean(self) -> bool:
        """Nothing left for a person (repairs postponed to the next run are not a problem yet)."""
        return self.unrepaired_total == 0

    def summary(self) -> str:
        postponed = f", {self.repairs_postponed} postponed to the next run" if self.repairs_postponed else ""
        return (
            f"{self.orders} orders checked ({self.open_orders} open, {self.deferred} within the "
            f"{short_duration(self.grace)} grace period): "
            f"{self.count(RepairStatus.REPAIRED)} repaired{postponed}, {self.unrepaired_total} left unrepaired"
        )
