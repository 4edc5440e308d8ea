"""The activities the workflows call, declared by name with their input and result models: the contract between
`workflows/` and `activities/`.

Workflows call activities by these names (`workflow.start_activity(activity.name, arg, result_type=activity.result)`)
rather than by importing the activity classes, so that the deterministic layer never imports the layer that makes
effects; the activities register under exactly these names (`@activity.defn(name=...)`). The names, inputs and
results are recorded in every history: changing one breaks replay of the executions that recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.first_attempts import FirstAttempts, FirstAttemptsDone
    from workflows.models import (
        ChargeRecord,
        ChargeRequest,
        CompensationOutcome,
        ErpOrderRecord,
        ErpOrderRequest,
        OrderRef,
        ReservationRecord,
        ReservationRef,
        ReservationRequest,
        RiskAssessment,
        RiskAssessmentRequest,
        StepFence,
    )
    from workflows.reconcile_models import ReconcileInput, Repair, RepairOutcome, Survey
    from workflows.saga_run_models import OperationAnswer, OperationCall, SagaFirstAttempts

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class ActivityType(Generic[In, Out]):
    """One activity as the workflow sees it: the name it is registered and recorded under, what it takes, what it
    returns (the result type the workflow decodes with)."""

    name: str
    arg: type[In]
    result: type[Out]


# ---- OrderWorkflow: forward steps ---------------------------------------------------------------------------------
CREATE_ERP_ORDER = ActivityType("create_erp_order", ErpOrderRequest, ErpOrderRecord)
ASSESS_RISK = ActivityType("assess_risk", RiskAssessmentRequest, RiskAssessment)
CHARGE_PAYMENT = ActivityType("charge_payment", ChargeRequest, ChargeRecord)
RESERVE_INVENTORY = ActivityType("reserve_inventory", ReservationRequest, ReservationRecord)
CONFIRM_ERP_ORDER = ActivityType("confirm_erp_order", OrderRef, ErpOrderRecord)
COMMIT_INVENTORY = ActivityType("commit_inventory", ReservationRef, ReservationRecord)
FIRST_ATTEMPTS = ActivityType("first_attempts", FirstAttempts, FirstAttemptsDone)
"""Consecutive first attempts of the steps above in one local activity (workflows/first_attempts.py)."""

# ---- OrderWorkflow: compensations (each fences the key of the step it undoes) -------------------------------------
CANCEL_ERP_ORDER = ActivityType("cancel_erp_order", StepFence, CompensationOutcome)
REFUND_PAYMENT = ActivityType("refund_payment", StepFence, CompensationOutcome)
RELEASE_INVENTORY = ActivityType("release_inventory", StepFence, CompensationOutcome)

# ---- ReconcileWorkflow ----------------------------------------------------------------------------------------------
CHECK_ORDERS = ActivityType("check_orders", ReconcileInput, Survey)
REPAIR = ActivityType("repair", Repair, RepairOutcome)

# ---- DeclaredSagaWorkflow: one activity under three names, so that each use has its own options (policies.py) ------
CALL_OPERATION = ActivityType("call_operation", OperationCall, OperationAnswer)
"""A forward step before (or without) a pivot: local first, then a bounded retry budget."""
UNDO_OPERATION = ActivityType("undo_operation", OperationCall, OperationAnswer)
"""A call of an undo (and an undo's lookup): server-managed, retried to the compensation deadline."""
COMPLETE_OPERATION = ActivityType("complete_operation", OperationCall, OperationAnswer)
"""A step after a successful pivot: retried without a budget, since nothing before it is undone any more."""
SAGA_FIRST_ATTEMPTS = ActivityType("saga_first_attempts", SagaFirstAttempts, FirstAttemptsDone)
"""The first attempts of a run's first steps (those `call_operation` makes local first) in one local activity."""

ORDER_STEPS: tuple[ActivityType[Any, Any], ...] = (
    CREATE_ERP_ORDER,
    ASSESS_RISK,
    CHARGE_PAYMENT,
    RESERVE_INVENTORY,
    CONFIRM_ERP_ORDER,
    COMMIT_INVENTORY,
    FIRST_ATTEMPTS,
    CANCEL_ERP_ORDER,
    REFUND_PAYMENT,
    RELEASE_INVENTORY,
)
FORWARD_STEPS = (CREATE_ERP_ORDER, ASSESS_RISK, CHARGE_PAYMENT, RESERVE_INVENTORY, CONFIRM_ERP_ORDER, COMMIT_INVENTORY)
ORDER_STEP_INPUTS: dict[str, Any] = {step.name: step.arg for step in FORWARD_STEPS}
"""The input model of each forward step, by name: what a batch of first attempts validates each call's input with."""
ORDER_STEP_RESULTS: dict[str, Any] = {step.name: step.result for step in FORWARD_STEPS}
"""The result model of each forward step, by name: what a batch checks each answer against."""
RECONCILE_STEPS: tuple[ActivityType[Any, Any], ...] = (CHECK_ORDERS, REPAIR)
SAGA_CALLS: tuple[ActivityType[Any, Any], ...] = (CALL_OPERATION, UNDO_OPERATION, COMPLETE_OPERATION)
SAGA_ACTIVITIES: tuple[ActivityType[Any, Any], ...] = (*SAGA_CALLS, SAGA_FIRST_ATTEMPTS)
BATCHES: frozenset[str] = frozenset({FIRST_ATTEMPTS.name, SAGA_FIRST_ATTEMPTS.name})
"""The activities that make several calls' first attempts at once: their result, a `FirstAttemptsDone`, lists them."""
