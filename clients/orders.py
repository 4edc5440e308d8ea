"""The order operations every door uses: place (or attach to) an order, read it, cancel it, review it, retry its
compensations.

The CLI (starters/), the Order API (api/), the demo, load and chaos runs all call these, so the doors cannot drift:
what one refuses, the other refuses. Nothing here knows a terminal or a web framework. Errors carry their facts
(`order_id`, `state`) and are worded with the name the caller gives an order (`shown_as`: the API names a customer's
order by the customer's own id, Temporal knows it by the id it is filed under), so no door rewrites another's wording.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.stuck import StuckExecution, is_failed_task_refusal, stuck_execution, stuck_from_query_failure
from cadenza.codec import KeyRing, missing_keys
from cadenza.decision_keys import decision_keys
from cadenza.decisions import sign, subject_of
from cadenza.errors import CadenzaError, InvalidInput
from cadenza.failure_types import DECISION_REFUSED, ORDER_COMPENSATED, PLAINTEXT_REFUSED
from cadenza.search_attributes import ORDER_STATUS, initial_search_attributes
from cadenza.settings import settings
from clients.results import carried_result, result_and_status
from clients.status_query import NoWorkerPolls, ask_status
from workflows.models import (
    OperatorRetry,
    Order,
    OrderProgress,
    OrderResult,
    OrderState,
    ReviewDecision,
    ReviewVerdict,
    SignedDecision,
    StoredOrder,
    workflow_id_for,
)
from workflows.order import RETRY_UPDATE, REVIEW_REFUSED_BECAUSE, REVIEW_UPDATE, OrderWorkflow
from workflows.policies import REVIEW_DEADLINE_MEMO, review_deadline_from_env

D = TypeVar("D", bound=SignedDecision)
T = TypeVar("T")


class InvalidOrder(InvalidInput, ValueError):
    """The order was refused before anything started; the message names each offending field."""


def parse_order(raw: str | bytes, source: str = "order") -> Order:
    try:
        return Order.model_validate_json(raw)
    except ValidationError as err:
        raise InvalidOrder(f"{source} is not a valid order:\n{format_validation_error(err)}") from None


def load_order(path: Path) -> Order:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InvalidOrder(f"cannot read {path}: {err.strerror}") from None
    return parse_order(raw, str(path))


def format_validation_error(err: ValidationError) -> str:
    lines = []
    for error in err.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(whole document)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "json_invalid":
            message = f"malformed JSON ({error.get('ctx', {}).get('error', message)})"
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


def order_fingerprint(order: Order) -> str:
    """A digest of the order as placed: kept in the execution's memo, so placing the same id again can tell "the same
    order again" (answer with it) from "another order under a used id" (refuse) without reading its history."""
    # Unset optional fields left out: an order placed before they existed keeps its fingerprint, and placing it again
    # is still "the same order".
    canonical = json.dumps(order.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


FINGERPRINT_MEMO = "order_fingerprint"


def start_options(
    order: Order, task_queue: str, review_deadline: timedelta | None = None, *, memo: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """How every order's execution is started — by `place_order` and by the Order API's update-with-start alike.
    `review_deadline` defaults to CADENZA_REVIEW_DEADLINE (unset: the worker's, else 24 h); `memo`: entries of the
    caller's own to keep with the execution."""
    kept: dict[str, Any] = {**(memo or {}), FINGERPRINT_MEMO: order_fingerprint(order)}
    # Fixed at start: the order keeps this review deadline (should it need a review) whatever the setting becomes.
    if (deadline := review_deadline or review_deadline_from_env()) is not None:
        kept[REVIEW_DEADLINE_MEMO] = int(deadline.total_seconds())
    return {
        "id": order.workflow_id,
        "task_queue": task_queue,
        # Never a second run for the same order id, even after the first one closed.
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "static_summary": order.describe(),
        "search_attributes": initial_search_attributes(order.customer_id, order.total_amount, OrderState.RUNNING),
        "memo": kept,
    }


class OrderIdTaken(CadenzaError, ValueError):
    """Another order was already placed under this id: nothing new was started, the stored order is unchanged."""

    def __init__(self, order_id: str, stored: str | None) -> None:
        held = f" (it holds {stored})" if stored else ""
        super().__init__(
            f"Order {order_id} was already placed with a different body{held}; nothing new was started. "
            "Use a new order id for a new order."
        )
        self.order_id = order_id
        self.stored = stored


async def ensure_same_order(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    order: Order,
    description: WorkflowExecutionDescription | None = None,
    *,
    shown_as: str | None = None,
) -> WorkflowExecutionDescription:
    """The execution behind `handle`, if it was started for exactly `order` (by the fingerprint in its memo; executions
    started before fingerprints were kept are compared by the input their history recorded). Raises `OrderIdTaken`,
    naming the stored order, if it was started for another."""
    description = description or await handle.describe()
    fingerprint = await description.memo_value(FINGERPRINT_MEMO, None, type_hint=str)
    if fingerprint is None:
        history = await handle.fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        [recorded] = await client.data_converter.decode(started.input.payloads, [StoredOrder])
        fingerprint = order_fingerprint(recorded)
    if fingerprint != order_fingerprint(order):
        raise OrderIdTaken(shown_as or order.order_id, await description.static_summary())
    return description


@dataclass(frozen=True)
class PlacedOrder:
    handle: WorkflowHandle[OrderWorkflow, OrderResult]
    duplicate: bool
    """True when this order had been placed before (the same body under the same id): nothing new was started."""


async def place_order(
    client: Client,
    order: Order,
    *,
    task_queue: str | None = None,
    eager_start: bool = True,
    review_deadline: timedelta | None = None,
    memo: Mapping[str, Any] | None = None,
    shown_as: str | None = None,
) -> PlacedOrder:
    """Start the order's workflow, or attach to the one already started for the same order — placing an order again
    is safe. An order id already used for a different body raises `OrderIdTaken` and starts nothing.

    `eager_start`: when this process also runs a worker on `task_queue` (the demo without `cadenza up`, the tests, a
    benchmark profile), the server hands the first workflow task straight back to it in the start response instead of
    through matching. The SDK only asks for it when such a local worker has a free slot, so for `cadenza order place`
    against `cadenza up`'s separate worker process it changes nothing.
    """
    queue = task_queue or settings().task_queue
    try:
        handle = await client.start_workflow(
            OrderWorkflow.run,
            order,
            **start_options(order, queue, review_deadline, memo=memo),
            request_eager_start=eager_start,
        )
        return PlacedOrder(handle, duplicate=False)
    except WorkflowAlreadyStartedError as err:
        existing = client.get_workflow_handle_for(OrderWorkflow.run, order.workflow_id, run_id=err.run_id)
        await ensure_same_order(client, existing, order, shown_as=shown_as)
        return PlacedOrder(existing, duplicate=True)


def order_handle(client: Client, order_id: str) -> WorkflowHandle[OrderWorkflow, OrderResult]:
    return client.get_workflow_handle_for(OrderWorkflow.run, workflow_id_for(order_id))


class OrderNotFound(CadenzaError, LookupError):
    """No order under this id (in this namespace): nothing was done."""

    def __init__(self, order_id: str, namespace: str) -> None:
        super().__init__(f"No order {order_id!r} in namespace {namespace}: nothing was done. Check the id.")
        self.order_id = order_id


@dataclass(frozen=True)
class OrderView:
    """An order as the doors show it: the workflow's own progress plus Temporal's view of the execution."""

    order_id: str
    workflow_id: str
    execution_status: str
    progress: OrderProgress | None
    summary: str | None = None
    note: str | None = None

    @property
    def running(self) -> bool:
        return self.execution_status == WorkflowExecutionStatus.RUNNING.name

    @property
    def state(self) -> str:
        """The order's state if its progress could be read, else its execution's status (lower case)."""
        return self.progress.state.value if self.progress else self.execution_status.lower()


async def describe_order(
    client: Client, order_id: str, *, description: WorkflowExecutionDescription | None = None
) -> OrderView:
    """The order as the doors show it (`description`: one the caller already has). Raises `OrderNotFound` for an
    unknown id and `OrderStuck` for an order whose workflow task cannot run."""
    handle = order_handle(client, order_id)
    if description is None:
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            raise OrderNotFound(order_id, client.namespace) from None
    summary = await description.static_summary()
    description, progress, note = await read_order(client, handle, description)
    status = description.status.name if description.status else "UNKNOWN"
    return OrderView(order_id, handle.id, status, progress, summary, note)


class OrderStuck(CadenzaError, RuntimeError):
    """The order's workflow task cannot run (it keeps failing, or the worker cannot rebuild the workflow to answer a
    query): nothing can be read from it or asked of it until someone acts. The message says what fails and what to
    do."""

    def __init__(self, stuck: StuckExecution) -> None:
        super().__init__(stuck.summary())
        self.stuck = stuck


async def refuse_if_stuck(client: Client, description: WorkflowExecutionDescription) -> None:
    """Raise `OrderStuck` for an execution whose workflow task keeps failing: a query would be refused and an update
    would wait for a task that never completes."""
    if (stuck := await stuck_execution(client, description)) is not None:
        raise OrderStuck(stuck)


async def progress_of(
    client: Client, handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
) -> tuple[OrderProgress | None, str | None]:
    """The order's progress and, when some of it cannot be had, why (a note for people). Raises `OrderStuck` for an
    order whose workflow task cannot run."""
    # A closed order's result is its final progress, in its history: read without asking a worker — which may no
    # longer exist (an order is pinned to the build it ran on, and a retired build's queries go unanswered). A
    # compensated order's execution failed, carrying its result; a cancelled one has none and is queried.
    if description.status in RESULT_STATUSES:
        try:
            return await order_result(handle), None
        except WorkflowFailureError:
            pass  # a failure that carries no result (not one Cadenza raises): ask the worker
    await refuse_if_stuck(client, description)
    try:
        return await ask_status(client, handle, OrderWorkflow.status, description=description), None
    except WorkflowQueryFailedError as err:  # the worker could not rebuild the workflow from its history
        raise OrderStuck(await stuck_from_query_failure(client, description, err)) from None
    except NoWorkerPolls as err:
        return None, f"{err}: {err.next_step}"
    except RPCError as err:
        if is_failed_task_refusal(err):  # its task started failing since our describe
            await refuse_if_stuck(client, await handle.describe())
        return None, "no worker is answering queries: start a worker"


RESULT_STATUSES = (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED)
"""The execution statuses of an order that closed with its `OrderResult` (completed, or failed as compensated)."""


def compensated_result(err: BaseException) -> OrderResult | None:
    """The `OrderResult` a compensated order's execution failed with (`OrderCompensated`, workflows/order.py), from a
    `WorkflowFailureError` or its cause; None for any other failure."""
    return carried_result(err, ORDER_COMPENSATED, OrderResult)


@dataclass(frozen=True)
class ClosedOrder:
    """An order that closed with its result: the result, and its execution's status as the way it closed says it
    (`clients.results.result_and_status`), so that whoever waited for it need not read the order again."""

    result: OrderResult
    status: WorkflowExecutionStatus


async def closed_order(handle: WorkflowHandle[Any, Any]) -> ClosedOrder:
    """The order's result, whichever way it closed with one: completed, or compensated — which ends the execution
    Failed (so the Web UI shows it failed), its result in the failure. The one place order results are read: the CLI,
    the API, the demo, load, bench and chaos runs all get an `OrderResult` for every order that ran to its end.
    Raises `WorkflowFailureError` for a cancelled order (it has no result) and any other failure."""
    return ClosedOrder(*await result_and_status(handle, ORDER_COMPENSATED, OrderResult))


async def order_result(handle: WorkflowHandle[Any, Any]) -> OrderResult:
    """`closed_order`'s result alone."""
    return (await closed_order(handle)).result


_ENDED = (OrderState.COMPLETED, OrderState.COMPENSATED)


async def read_order(
    client: Client, handle: WorkflowHandle[Any, Any], description: WorkflowExecutionDescription
) -> tuple[WorkflowExecutionDescription, OrderProgress | None, str | None]:
    """The order's execution and progress as of one moment: `progress_of`, and — when the progress says the order
    ended but `description` was taken while it still ran — the execution described again, so that a door never
    shows "completed" next to "not closed". Raises `OrderStuck` as `progress_of` does."""
    progress, note = await progress_of(client, handle, description)
    running = description.status == WorkflowExecutionStatus.RUNNING
    if running and progress is not None and progress.state in _ENDED:
        # It closed between the describe and the query: the query answers from its last task, which closed it.
        description = await handle.describe()
    return description, progress, note


class OrderClosed(CadenzaError, RuntimeError):
    """The order's execution has ended: there is nothing left to cancel. Its outcome is final."""

    def __init__(self, order_id: str, state: str) -> None:
        super().__init__(f"Order {order_id} has already ended ({state}); nothing was cancelled.")
        self.order_id = order_id
        self.state = state


async def cancel_order(
    client: Client,
    order_id: str,
    *,
    shown_as: str | None = None,
    description: WorkflowExecutionDescription | None = None,
) -> str:
    """Ask the order's workflow to cancel; returns what will happen, in one sentence. Refuses a closed order with
    its state (`OrderClosed`): cancelling it would be a silent no-op, and its outcome is final."""
    view = await describe_order(client, order_id, description=description)  # a clear error for an unknown id
    name = shown_as or order_id
    if not view.running:
        raise OrderClosed(name, view.state)
    await order_handle(client, order_id).cancel()
    state = view.progress.state if view.progress else None
    if state == OrderState.NEEDS_ATTENTION:
        return (
            f"Order {name} is already needs_attention: the cancellation is recorded, and its compensations run to the "
            "end first (it waits for an operator to retry them)."
        )
    if state == OrderState.COMPENSATING:
        return (
            f"Order {name} is already compensating: the cancellation is recorded, "
            "and its compensations run to the end first."
        )
    return f"Cancellation requested for {name}; its steps are being compensated."


class NotAwaitingReview(CadenzaError, RuntimeError):
    """The order is not waiting for a review decision: nothing was decided."""

    def __init__(self, order_id: str, state: str, why: str | None = None) -> None:
        said = f"is not awaiting review ({why})" if why else f"is {state}, not awaiting_review"
        super().__init__(f"Order {order_id} {said}: nothing was decided.")
        self.order_id = order_id
        self.state = state


class NotAwaitingOperator(CadenzaError, RuntimeError):
    """The order is not in needs_attention: it has no failed compensation to retry, and nothing was retried."""

    def __init__(self, order_id: str, state: str) -> None:
        super().__init__(f"Order {order_id} is {state}, not needs_attention: there is no failed compensation to retry.")
        self.order_id = order_id
        self.state = state


class DecisionNotAccepted(CadenzaError, RuntimeError):
    """A worker refused the decision itself, not for the order's state: its proof (this process signs with a key the
    workers do not hold, or its clock is off) or its unencrypted payload. Nothing was decided; the message says why."""


def signed(update: str, workflow_id: str, decision: D, keys: KeyRing | None = None) -> D:
    """`decision` with the proof that this door relays it (cadenza.decisions), for `update` of `workflow_id`, signed
    with `keys` (default: this process's decision keys; none raises `DecisionKeysMissing`, naming the variable)."""
    proof = sign(keys or decision_keys(), subject_of(update, workflow_id, decision), at=datetime.now(UTC))
    return decision.model_copy(update={"proof": proof})


async def send_review(
    handle: WorkflowHandle[Any, Any], decision: ReviewDecision, *, keys: KeyRing | None = None
) -> OrderProgress:
    """The `review` update, signed: the only way Cadenza's doors send a review decision."""
    review = signed(REVIEW_UPDATE, handle.id, decision, keys)
    # The SDK's `update(name=...)` overload keeps an async handler's Coroutine as its result type (the bare one unwraps
    # it), so mypy expects the update to return a coroutine; it returns an OrderProgress.
    return await decided(handle.execute_update(OrderWorkflow.review, review))  # type: ignore[arg-type]


async def retry_compensations(
    handle: WorkflowHandle[Any, Any], *, operator: str, keys: KeyRing | None = None
) -> OrderProgress:
    """The `retry_compensation` update on behalf of `operator` (an API key's name, a CLI user), signed: the only way
    Cadenza's doors resume an order in needs_attention. The validator's refusal (not in needs_attention) is raised as
    the SDK's `WorkflowUpdateFailedError`; `retry_compensation` turns it into `NotAwaitingOperator`."""
    retry = signed(RETRY_UPDATE, handle.id, OperatorRetry(operator=operator), keys)
    # As in send_review: the SDK's `update(name=...)` overload types the result as a coroutine.
    return await decided(handle.execute_update(OrderWorkflow.retry_compensation, retry))  # type: ignore[arg-type]


async def decided(update: Awaitable[T]) -> T:
    """`update`'s answer; a worker's refusal of the decision's proof or payload as `DecisionNotAccepted`."""
    try:
        return await update
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in (DECISION_REFUSED, PLAINTEXT_REFUSED):
            raise DecisionNotAccepted(str(cause)) from None
        raise


async def retry_compensation(
    client: Client,
    order_id: str,
    *,
    operator: str,
    keys: KeyRing | None = None,
    shown_as: str | None = None,
    description: WorkflowExecutionDescription | None = None,
) -> OrderProgress:
    """Resume an order in needs_attention on behalf of `operator`: retry its failed compensations. Raises
    `OrderNotFound`, `OrderStuck`, or `NotAwaitingOperator` with the order's state (and changes nothing) for an
    order that is not waiting for an operator; `DecisionNotAccepted` when a worker refuses its proof."""
    handle = order_handle(client, order_id)
    if description is None:
        try:
            description = await handle.describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            raise OrderNotFound(shown_as or order_id, client.namespace) from None
    state = description.typed_search_attributes.get(ORDER_STATUS) or (
        description.status.name.lower() if description.status else "unknown"
    )
    if description.status != WorkflowExecutionStatus.RUNNING:
        # Closed: refused here, in the order's own words, rather than by whatever the server says of an update sent
        # to a closed execution — so the CLI and the API say the same.
        raise NotAwaitingOperator(shown_as or order_id, state)
    await refuse_if_stuck(client, description)
    try:
        return await retry_compensations(handle, operator=operator, keys=keys)
    except (WorkflowUpdateFailedError, RPCError) as err:
        # The validator's refusal, or (NOT_FOUND) the order closed since: either way it was not waiting for an
        # operator. Any other refusal (an execution out of updates) is the caller's to word.
        if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise NotAwaitingOperator(shown_as or order_id, state) from None


async def review_order(
    client: Client,
    order_id: str,
    verdict: ReviewVerdict,
    *,
    reviewer: str,
    reason: str | None = None,
    keys: KeyRing | None = None,
    shown_as: str | None = None,
    description: WorkflowExecutionDescription | None = None,
) -> OrderProgress:
    """Approve or reject an order in `awaiting_review` on behalf of `reviewer` (who relays it: an API key's name, a
    CLI user); returns the order's progress once it acted on the decision. Raises `NotAwaitingReview` with the order's
    state otherwise (a closed order, one not referred to review, one already decided) — and changes nothing; and
    `DecisionNotAccepted` when a worker refuses its proof. Signed with `keys` (see `signed`)."""
    name = shown_as or order_id
    view = await describe_order(client, order_id, description=description)  # a clear error for an unknown id
    if not view.running:
        raise NotAwaitingReview(name, view.state)
    decision = ReviewDecision(decision=verdict, reviewer=reviewer, reason=reason)
    try:
        return await send_review(order_handle(client, order_id), decision, keys=keys)
    except WorkflowUpdateFailedError as err:  # the validator's refusal: it says why (e.g. its review ended approved)
        why = str(err.cause or "").partition(REVIEW_REFUSED_BECAUSE)[2] or None
        raise NotAwaitingReview(name, view.state, why) from None
    except RPCError as err:
        # The order closed between our look and the update ("aborted by closing workflow"): decided by then.
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise NotAwaitingReview(name, (await describe_order(client, order_id)).state) from None


POLL_CAP_S = 2.0
"""The longest interval between two asks of `until_closed_or_waiting`: how late, at most, a wait learns that an order
it holds now waits for a person."""

WAITS_FOR_A_PERSON = (OrderState.AWAITING_REVIEW, OrderState.NEEDS_ATTENTION)
"""An order in one of these states moves only when someone acts (a review, a retry of its compensations): it can wait
there for days, so whoever waits for its outcome answers at once instead."""


async def until_closed_or_waiting(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    seconds: float,
    *,
    poll_s: float,
    fatal: Callable[[BaseException], bool] = lambda _err: False,
) -> OrderProgress | ClosedOrder | None:
    """Wait up to `seconds` for the order to close — or to wait for a person (`WAITS_FOR_A_PERSON`), which can take
    days: the Order API's `wait=N` and `cadenza order place --wait` answer then, and this returns its progress. An
    order that closed with a result returns it (`ClosedOrder`). None when the wait ran out, or the order closed
    without a result (a cancelled one). A status query that fails returns None too (stuck, or closed: the order's
    progress, read next, says so), unless `fatal` says to raise it. Raises `NoWorkerPolls` as soon as it is clear
    that no worker polls the order's task queue: the order cannot move until one starts, whatever the wait.

    The close is waited for by a long poll; whether a person is needed, by asking the order's status after `poll_s`,
    then at intervals that double up to `POLL_CAP_S`. An order is referred to a person at its risk check, early in its
    first workflow task, so the first asks find it; an order still running after them is one a burst or a retry
    slowed, which is asked seldom: each ask is a query the server and the worker answer, and asking every `poll_s`
    for the whole of a 500-order burst cost more CPU than the orders' own calls (docs/performance.md)."""
    closed = asyncio.ensure_future(closed_order(handle))
    try:
        deadline = asyncio.get_running_loop().time() + seconds
        interval = poll_s
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait({closed}, timeout=min(interval, left))
            interval = min(interval * 2, max(POLL_CAP_S, poll_s))
            if closed.done():
                if closed.cancelled() or closed.exception() is not None:
                    return None  # a cancelled order has no result: its progress, read next, says how it ended
                return closed.result()
            try:
                progress: OrderProgress = await ask_status(
                    client, handle, OrderWorkflow.status, within=deadline - asyncio.get_running_loop().time()
                )
            except (WorkflowQueryFailedError, RPCError) as err:
                if fatal(err):
                    raise
                return None
            if progress.state in WAITS_FOR_A_PERSON:
                return progress
        return None
    finally:
        if closed.done():
            if not closed.cancelled():
                closed.exception()  # retrieved: a cancelled order has no result, and its progress is read next
        else:
            closed.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closed


class OrderRefusedUnencrypted(CadenzaError, RuntimeError):
    """The worker refused the order at its start: it arrived in plain text where encryption is required (this
    process has no encryption keys). Nothing was done; the message is the worker's, readable without keys."""


async def wait_for_result(handle: WorkflowHandle[OrderWorkflow, OrderResult]) -> OrderProgress:
    """The final state: the result (completed or compensated), or (for a cancelled order, which has none) the status
    query's answer. `OrderRefusedUnencrypted` for an order a worker refused for its plain-text input."""
    try:
        return await order_result(handle)
    except WorkflowFailureError as err:
        if isinstance(err.cause, ApplicationError) and err.cause.type == PLAINTEXT_REFUSED:
            raise OrderRefusedUnencrypted(
                str(err.cause), next_step=f"This process has no encryption keys: {missing_keys()}."
            ) from None
        return await handle.query(OrderWorkflow.status)


def order_json(progress: OrderProgress) -> str:
    return json.dumps(progress.model_dump(mode="json"), indent=2)
