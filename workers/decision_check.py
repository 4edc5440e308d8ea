"""Checking the proof a decision carries (cadenza.decisions) before the workflow sees it: the review of an order and an
operator's retry of its compensations (workflows.order.SIGNED_UPDATES) are refused unless one of Cadenza's doors
signed exactly this decision, for this execution, a few minutes ago, and the proof was not used on it before.

Done in the update-validator hook, which runs before the workflow's own validator and only when an update first
arrives: a refused update leaves no trace in history, and replay never runs the check, so the workflow stays
deterministic and the keys can rotate freely. Accepted proofs are remembered per execution from the update handlers,
which do run again on replay: a worker that rebuilt an order still refuses a proof the order already used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.worker import HandleUpdateInput, Interceptor, WorkflowInboundInterceptor, WorkflowInterceptorClassInput

from cadenza.codec import KeyRing
from cadenza.decisions import check, subject_of
from workflows.models import SignedDecision
from workflows.order import SIGNED_UPDATES


class DecisionCheck(Interceptor):
    """Refuses a decision update whose proof does not verify with `ring` (the worker's decision keys)."""

    def __init__(self, ring: KeyRing) -> None:
        self._inbound = type("CheckDecisions", (_CheckDecisions,), {"ring": ring})

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return self._inbound


class _CheckDecisions(WorkflowInboundInterceptor):
    ring: ClassVar[KeyRing]

    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._used: set[str] = set()

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        if input.update in SIGNED_UPDATES:
            decision = decision_in(input.args)
            subject = subject_of(input.update, workflow.info().workflow_id, decision)
            # The worker's clock, not the workflow's (the server's task time, which a time-skipping test server moves
            # days ahead): validators never run on replay, so reading a clock here cannot break determinism.
            with workflow.unsafe.sandbox_unrestricted():
                now = datetime.now(UTC)
            check(self.ring, subject, decision.proof if decision else None, now=now, used=self._used)
        super().handle_update_validator(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        if input.update in SIGNED_UPDATES and (decision := decision_in(input.args)) and decision.proof:
            self._used.add(decision.proof.signature)
        return await super().handle_update_handler(input)


def decision_in(args: Sequence[Any]) -> SignedDecision | None:
    """The decision among an update's arguments; None when it was sent without one."""
    return next((arg for arg in args if isinstance(arg, SignedDecision)), None)
