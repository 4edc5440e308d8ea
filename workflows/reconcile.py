"""`ReconcileWorkflow`: the net under the saga. Run by a Temporal Schedule (`cadenza-reconcile`, every 5 minutes) or
once by `cadenza reconcile run`: check the recent orders against the services' records, make the safe repairs one
activity each, raise the rest.

Raised means: listed in the result and the `progress` query, counted in the `cadenza_inconsistencies` gauge, written
in the run's current details (Web UI) and in its `ReconcileUnrepaired` search attribute, so
`ReconcileUnrepaired > 0` lists every run that left something for a person.

Deterministic: every read and write is an activity (the decisions are made in `check_orders`, which sees the data);
here only their results are combined. Runs under the sandboxed runner as well as the unsandboxed one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from temporalio import workflow
from temporalio.common import RetryPolicy, VersioningBehavior
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from cadenza.search_attributes import RECONCILE_UNREPAIRED
    from workflows import activity_types
    from workflows.errors import describe_failure
    from workflows.reconcile_models import (
        MAX_LISTED,
        Finding,
        ReconcileInput,
        ReconcileReport,
        RepairOutcome,
        RepairStatus,
        Survey,
        short_duration,
    )


class _Options(TypedDict, total=False):
    """The options a call takes from its table (workflow.ActivityConfig would also allow `summary`, given per call)."""

    start_to_close_timeout: timedelta
    schedule_to_close_timeout: timedelta
    retry_policy: RetryPolicy


# Paging through every record of three services takes seconds at most; a few attempts ride out a service restart, and
# a run that still cannot read them fails visibly (the schedule's next run tries again).
_CHECK: _Options = {
    "start_to_close_timeout": timedelta(minutes=5),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3),
}
# One repair is one HTTP call; retried for about a minute, then reported as failed and left for a person (and for the
# next run, which plans it again: its idempotency key makes that safe).
_REPAIR: _Options = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10)),
}


# AUTO_UPGRADE under Worker Versioning: a run lasts seconds and a Schedule starts a fresh one every 5 minutes, so a run
# has nothing to keep from an older build, and an old build can drain instead of waiting on a run pinned to it. The
# price: a change to this workflow must stay replay-compatible for the run in flight (patched).
@workflow.defn(versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class ReconcileWorkflow:
    @workflow.init
    def __init__(self, params: ReconcileInput) -> None:
        self._report = ReconcileReport(window=params.window, grace=params.grace, prefix=params.prefix)
        # The SDK's __contains__ takes a key; its Collection[SearchAttributePair] base makes mypy expect a pair.
        self._indexed = RECONCILE_UNREPAIRED in workflow.info().typed_search_attributes  # type: ignore[comparison-overlap]

    @workflow.run
    async def run(self, params: ReconcileInput) -> ReconcileReport:
        workflow.set_current_details(f"Checking the orders of the last {short_duration(params.window)}…")
        check = activity_types.CHECK_ORDERS
        survey: Survey = await workflow.execute_activity(
            check.name,
            params,
            result_type=check.result,
            summary=f"check orders of the last {short_duration(params.window)}",
            **_CHECK,
        )
        self._start_repairs(survey)
        for index, outcome in enumerate(self._report.repairs):
            repair = outcome.repair
            workflow.set_current_details(f"Repairing {index + 1} of {len(self._report.repairs)}: {repair.describe()}")
            try:
                done: RepairOutcome = await workflow.execute_activity(
                    activity_types.REPAIR.name,
                    repair,
                    result_type=activity_types.REPAIR.result,
                    summary=repair.describe(),
                    **_REPAIR,
                )
            except ActivityError as err:
                done = RepairOutcome(repair=repair, status=RepairStatus.FAILED, detail=describe_failure(err).reason)
                self._raise(Finding(order_id=repair.order_id, message=f"{repair.describe()} failed: {done.detail}"))
            self._report.repairs[index] = done
            workflow.logger.info("reconcile %s: %s (%s)", done.status.value, repair.describe(), repair.reason)
        self._finish()
        return self._report

    @workflow.query
    def progress(self) -> ReconcileReport:
        return self._report

    def _start_repairs(self, survey: Survey) -> None:
        report = self._report
        report.phase = "repairing"
        report.orders, report.open_orders, report.deferred = survey.orders, survey.open_orders, survey.deferred
        report.repairs = [RepairOutcome(repair=repair) for repair in survey.repairs]
        report.repairs_postponed = survey.repairs_postponed
        report.unrepaired, report.unrepaired_total = list(survey.problems), survey.problems_total
        report.notes = list(survey.notes)
        for finding in survey.problems:
            workflow.logger.warning("reconcile raised: order %s: %s", finding.order_id, finding.message)

    def _raise(self, finding: Finding) -> None:
        workflow.logger.warning("reconcile raised: order %s: %s", finding.order_id, finding.message)
        self._report.unrepaired_total += 1
        if len(self._report.unrepaired) < MAX_LISTED:
            self._report.unrepaired.append(finding)

    def _finish(self) -> None:
        report = self._report
        report.phase = "done"
        meter = workflow.metric_meter()
        meter.create_gauge("cadenza_inconsistencies", "Inconsistencies the latest reconcile run could not repair").set(
            report.unrepaired_total
        )
        repairs = meter.create_counter("cadenza_reconcile_repairs", "Reconciler repairs by action and result")
        for outcome in report.repairs:
            repairs.add(1, {"action": outcome.repair.action.value, "result": outcome.status.value})
        if self._indexed:
            workflow.upsert_search_attributes([RECONCILE_UNREPAIRED.value_set(report.unrepaired_total)])
        workflow.set_current_details(_details(report))


_SHOWN = 50  # per list in the Web UI's details; the result and the query carry up to MAX_LISTED


def _more(count: int) -> list[str]:
    return [f"- … and {count - _SHOWN} more (the run's result lists up to {MAX_LISTED})"] if count > _SHOWN else []


def _details(report: ReconcileReport) -> str:
    """The run as the Web UI shows it (markdown): the summary, then each repair and each finding left."""
    lines = [f"**{report.summary()}**", ""]
    lines += [f"- {o.status.value}: {o.repair.describe()} ({o.repair.reason})" for o in report.repairs[:_SHOWN]]
    lines += _more(len(report.repairs))
    if report.unrepaired:
        lines += ["", "**Left for a person** (`cadenza audit` lists them too):"]
        lines += [f"- order {f.order_id}: {f.message}" for f in report.unrepaired[:_SHOWN]]
        lines += _more(report.unrepaired_total)
    lines += [f"- _{note}_" for note in report.notes]
    return "\n".join(lines)
