"""Refusing what arrives unencrypted: with encryption required, a new workflow start, update or signal whose payloads
came in as plain text (the `temporal` CLI without a codec, any client without the keys) is refused before workflow
code sees it — while histories recorded before encryption keep replaying.

The codec cannot do this: it decodes recorded events and new ones alike, and a worker replays old plain-text histories
whenever it rebuilds an open order. So it only marks what arrived in plain text (cadenza.codec.PLAINTEXT_MARK);
`MarkingRunner` turns the marks into a header on each start, update and signal of an activation (the only channel
from a payload to a workflow interceptor, which sees decoded arguments), and `PlaintextIntake` refuses:

- an update in its validator hook: validators run only when an update first arrives, never on replay, and a refused
  update leaves no trace in history;
- a start by failing the execution at once, behind a patch marker: a worker replaying that history refuses again
  (the marker is there), and one replaying a history from before (no marker) runs it as it ran;
- a signal by dropping it, on replay too (as long as the setting stays on): Cadenza's workflows have no signal
  handler today, so no recorded history has a plain-text signal that was handled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInstance,
    WorkflowInstanceDetails,
    WorkflowInterceptorClassInput,
    WorkflowRunner,
)

from cadenza.codec import ENCRYPTION_ENV, PLAINTEXT_MARK, ReadableFailure
from cadenza.failure_types import PLAINTEXT_REFUSED

PLAINTEXT_HEADER = PLAINTEXT_MARK
"""Set by `MarkingRunner` on a start, update or signal whose payloads arrived unencrypted; removed from any other, so
a sender can neither set nor hide it."""

PLAINTEXT_START_REFUSED_PATCH = "plaintext-start-refused"
"""Recorded by an execution refused for its unencrypted input, so that its replay refuses again. Asked only for an input
that arrived in plain text, first thing in the run, so no other history gains or loses a marker."""


class PlaintextRefused(ReadableFailure, ApplicationError):
    """A new request whose payloads arrived unencrypted where encryption is required. Readable by its sender, who has
    no keys: it names the rule, never data."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"Refused {what}: its payload arrived unencrypted and this worker requires encryption "
            f"({ENCRYPTION_ENV}=required). Nothing was done. "
            "Send it from a process that has the encryption keys (`cadenza` and the Order API encrypt with them "
            "when they can read the keys); with the `temporal` CLI, pass --codec-endpoint.",
            type=PLAINTEXT_REFUSED,
            non_retryable=True,
        )


# ---- marking ---------------------------------------------------------------------------------------------------------


class MarkingRunner(WorkflowRunner):
    """Runs workflows with `inner`, marking each activation's starts, updates and signals first (see the module)."""

    def __init__(self, inner: WorkflowRunner) -> None:
        self.inner = inner

    def prepare_workflow(self, defn: Any) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _MarkingInstance(self.inner.create_instance(det))

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self.inner.set_worker_level_failure_exception_types(types)


class _MarkingInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance) -> None:
        self._inner = inner

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        for job in act.jobs:
            if job.HasField("initialize_workflow"):
                _mark(job.initialize_workflow.headers, job.initialize_workflow.arguments)
            elif job.HasField("do_update"):
                _mark(job.do_update.headers, job.do_update.input)
            elif job.HasField("signal_workflow"):
                _mark(job.signal_workflow.headers, job.signal_workflow.input)
        return self._inner.activate(act)

    def get_serialization_context(self, command_info: Any) -> Any:
        return self._inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._inner.get_external_store_context(command_info)

    def get_info(self) -> workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()

    def __getattr__(self, name: str) -> Any:  # whatever a later SDK asks of an instance
        return getattr(self._inner, name)


def _mark(headers: Any, payloads: Sequence[Payload]) -> None:
    if PLAINTEXT_HEADER in headers:
        del headers[PLAINTEXT_HEADER]
    if any(PLAINTEXT_MARK in payload.metadata for payload in payloads):
        headers[PLAINTEXT_HEADER].CopyFrom(Payload(metadata={"encoding": b"json/plain"}, data=b"true"))


def arrived_plaintext(headers: Mapping[str, Payload]) -> bool:
    return PLAINTEXT_HEADER in headers


# ---- refusing --------------------------------------------------------------------------------------------------------


class PlaintextIntake(Interceptor):
    """Refuses new unencrypted starts, updates and signals when `refuse` (the worker requires encryption); replays a
    refusal recorded earlier either way. Needs `MarkingRunner` as the worker's workflow runner."""

    def __init__(self, *, refuse: bool) -> None:
        self._inbound = type("RefusePlaintext", (_RefusePlaintext,), {"refuse": refuse})

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return self._inbound


class _RefusePlaintext(WorkflowInboundInterceptor):
    refuse: ClassVar[bool]

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # A worker that does not refuse still asks on replay: a history refused elsewhere must replay as refused.
        asks = self.refuse or workflow.unsafe.is_replaying()
        if arrived_plaintext(input.headers) and asks and workflow.patched(PLAINTEXT_START_REFUSED_PATCH):
            raise PlaintextRefused(f"this {workflow.info().workflow_type} execution")
        return await super().execute_workflow(input)

    def handle_update_validator(self, input: HandleUpdateInput) -> None:
        if self.refuse and arrived_plaintext(input.headers):
            raise PlaintextRefused(f"update {input.update!r} of {workflow.info().workflow_id}")
        super().handle_update_validator(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        if self.refuse and arrived_plaintext(input.headers):
            workflow.logger.warning("dropped signal %r: %s", input.signal, PlaintextRefused("it"))
            return
        await super().handle_signal(input)
