"""`/orders`: place, follow, list, cancel and recover orders over HTTP.

Every route goes through the same doors: an API key with the route's scope (api/auth.py); the order's owner settled
before anything is done to it (api/ownership.py) — a key bound to a customer reaches only that customer's orders,
anyone else's answers exactly as an unknown id does (404, in lists too); updates within Temporal's per-execution
limits (api/update_guard.py); and Temporal unreachable is a 503 with Retry-After. The order body is the CLI's
`Order` model with the same validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.auth import Principal, require, still_valid
from api.holds import Holds
from api.ownership import FoundOrder, OrderAddress, find_order, listed_address, new_address
from api.page_tokens import PAGE_TOKEN_PATTERN, PageTokens, no_such_page
from api.preferences import MAX_WAIT_S, PAYMENT, PREFER_DESCRIPTION, PREFER_PATTERN, Wait, wait_preference
from api.stream import POLL_S, event_stream
from api.temporal import TemporalGate, is_unreachable, unavailable_as_503
from api.update_guard import UpdateGuard
from api.views import Accepted, OrderPage, OrderStatusView, OrderSummary, links, status_view
from cadenza.problems import InvalidField, Problem, problem_responses
from cadenza.search_attributes import CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL
from clients import orders as operations
from clients.catalogue import SkuCatalogue
from clients.orders import (
    ClosedOrder,
    NotAwaitingOperator,
    NotAwaitingReview,
    OrderClosed,
    OrderIdTaken,
    OrderStuck,
    cancel_order,
    ensure_same_order,
    place_order,
    read_order,
    refuse_if_stuck,
    review_order,
    start_options,
    until_closed_or_waiting,
)
from clients.status_query import NoWorkerPolls
from workflows.models import (
    Identifier,
    Order,
    OrderProgress,
    OrderState,
    PaymentAnswer,
    PaymentDecision,
    PaymentOutcome,
    ReviewReason,
    ReviewVerdict,
)
from workflows.order import OrderWorkflow

_log = logging.getLogger("cadenza.api")
router = APIRouter(prefix="/orders", tags=["orders"])

Writer = Annotated[Principal, Depends(require("orders:write"))]
Reader = Annotated[Principal, Depends(require("orders:read"))]
Operator = Annotated[Principal, Depends(require("orders:operate"))]
Reviewer = Annotated[Principal, Depends(require("orders:review"))]
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
CustomerOf = Annotated[
    Identifier | None,
    Query(
        alias="customer_id",
        description="The order's customer. A key bound to a customer needs it not (another customer's id answers "
        "404); a key bound to none finds an order placed with a customer's key by it (the order's links carry it).",
    ),
]


async def _client(request: Request) -> Client:
    gate: TemporalGate = request.app.state.temporal
    return await gate.client()


Temporal = Annotated[Client, Depends(_client)]


def _json_body(request: Request) -> None:
    # Read from the request rather than declared as a header parameter: Content-Type describes the body, it is not an
    # input of its own (and the 415 is in the operation's documented answers).
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(
            415, "Unsupported media type", f"Send the order as application/json, not {media_type or 'no type'}."
        )


def _guard(request: Request) -> UpdateGuard:
    return request.app.state.update_guard


def _holds(request: Request) -> Holds:
    return request.app.state.holds


# ---- placing ---------------------------------------------------------------------------------------------------------


@router.post(
    "",
    status_code=202,
    dependencies=[Depends(_json_body)],
    response_model=OrderStatusView,
    responses={
        200: {"model": OrderStatusView, "description": "The order closed (or its payment was decided) within the wait"},
        **problem_responses(401, 403, 409, 413, 415, 422, 429, 503),
    },
    summary="Place an order (the same id and body again answers with the existing order)",
)
async def place(
    order: Order,
    principal: Writer,
    client: Temporal,
    request: Request,
    response: Response,
    prefer: Annotated[
        str | None, Header(description=PREFER_DESCRIPTION, json_schema_extra={"pattern": PREFER_PATTERN})
    ] = None,
) -> OrderStatusView:
    if not principal.may_see(order.customer_id):
        raise Problem(
            403, "Not your customer", f"This API key places orders for customer {principal.customer_id} only."
        )
    if unknown := await _unknown_skus(request.app.state.skus, order):
        raise Problem(422, "Invalid request", "; ".join(f"{e.field}: {e.message}" for e in unknown), errors=unknown)
    wait = wait_preference(prefer)
    release = _holds(request).waits.take(principal.key_id) if wait is not None else None
    if release is None:
        wait = None  # over the key's cap of held requests: answered at once, without Preference-Applied
    try:
        with unavailable_as_503():
            placed = await _placed(client, request, order, principal, wait)
            view = await _answer(client, placed, wait)
    except OrderIdTaken as err:
        raise Problem(409, "Order id already used", str(err)) from None
    finally:
        if release is not None:
            release()
    response.headers["Location"] = view.links.self
    if wait is not None:
        response.headers["Preference-Applied"] = f"wait={wait:g}" if isinstance(wait, float) else f"wait={wait}"
    if view.closed or (wait == PAYMENT and view.payment is not None):
        response.status_code = 200
    return view


@dataclass(frozen=True)
class _Placed:
    """The execution an order placement ends up with."""

    address: OrderAddress
    handle: WorkflowHandle
    description: WorkflowExecutionDescription | None
    fresh: bool
    """Started by this request (nothing has happened to it yet)."""
    answer: PaymentAnswer | None = None
    """The payment decision, and the order's progress as it left it, when update-with-start waited for it."""


async def _unknown_skus(catalogue: SkuCatalogue, order: Order) -> list[InvalidField]:
    """The lines whose SKU the inventory does not stock, as the 422's fields; none when the inventory cannot be asked
    (the workflow refuses unknown SKUs itself)."""
    check = await catalogue.check(order)
    if check.unavailable is not None:
        _log.warning("could not check SKUs against the inventory (%s); the workflow will", check.unavailable)
    known = ", ".join(sorted(check.known or ()))
    return [
        InvalidField(field=unknown.field, message=f"{unknown.message} (known: {known})") for unknown in check.unknown
    ]


async def _placed(client: Client, request: Request, order: Order, principal: Principal, wait: Wait | None) -> _Placed:
    """Find the customer's order under this id, or start it. Ownership first: the lookup touches nothing, and a start
    goes to an id only this customer's orders are filed under (a key bound to no customer: the plain id, as ever)."""
    found = await find_order(client, order.order_id, order.customer_id)
    if found is not None:
        placed = _Placed(found.address, found.handle, found.description, fresh=False)
    else:
        placed = await _start(client, request, new_address(order, bound=principal.customer_id is not None), order, wait)
    if not placed.fresh:
        filed = placed.address.as_filed(order)
        description = await ensure_same_order(client, placed.handle, filed, placed.description, shown_as=order.order_id)
        placed = replace(placed, description=description)
    return placed


async def _start(client: Client, request: Request, address: OrderAddress, order: Order, wait: Wait | None) -> _Placed:
    filed = address.as_filed(order)
    task_queue: str = request.app.state.task_queue
    if wait != PAYMENT:
        started = await place_order(
            client, filed, task_queue=task_queue, eager_start=False, memo=address.start_memo(), shown_as=order.order_id
        )
        return _Placed(address, started.handle, None, fresh=not started.duplicate)
    options = start_options(filed, task_queue, memo=address.start_memo())
    async with _guard(request).update(address, None):
        handle, answer = await _start_until_paid(client, filed, options)
    # Update-with-start attaches to an order that got there first (the same customer's, placing it twice at once):
    # whether it is this one is checked after, as for any order found under the id.
    return _Placed(address, handle, None, fresh=False, answer=answer)


async def _start_until_paid(
    client: Client, order: Order, options: dict[str, Any]
) -> tuple[WorkflowHandle, PaymentAnswer | None]:
    """Start the order and wait for its payment decision, in one round trip: update-with-start. None for an order
    that closed before (REJECT_DUPLICATE refuses a new run): its progress says how the payment went."""
    start = WithStartWorkflowOperation(
        OrderWorkflow.run, order, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, **options
    )
    try:
        answer = await client.execute_update_with_start_workflow(
            OrderWorkflow.payment_decision, start_workflow_operation=start, rpc_timeout=timedelta(seconds=MAX_WAIT_S)
        )
    except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError, RPCError) as err:
        _retrieve_start_error(start)
        if is_unreachable(err):
            raise
        return client.get_workflow_handle_for(OrderWorkflow.run, options["id"]), None
    return await start.workflow_handle(), answer


def _retrieve_start_error(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """Take the start's failure out of its handle future, which the SDK sets alongside raising it from the update: left
    there, asyncio logs "Future exception was never retrieved" for every order placed again after it closed. Read
    without awaiting — the SDK may never set it (an update that failed after the start), and a cancelled await would
    cancel the SDK's own future."""
    # No public way to ask whether the SDK set it: WithStartWorkflowOperation.workflow_handle() awaits it.
    future = start._workflow_handle
    if future.done() and not future.cancelled():
        future.exception()


async def _answer(client: Client, placed: _Placed, wait: Wait | None) -> OrderStatusView:
    address, handle, namespace = placed.address, placed.handle, client.namespace
    running = placed.description is None or placed.description.status == WorkflowExecutionStatus.RUNNING
    if placed.fresh and not wait:  # just started: nothing has happened yet, no need to ask the worker
        return status_view(address, "RUNNING", OrderProgress(order_id=address.order_id), namespace)
    waited = None
    if isinstance(wait, float):
        with contextlib.suppress(NoWorkerPolls):  # the order cannot move: answered now, with a note that says why
            waited = await until_closed_or_waiting(client, handle, wait, poll_s=POLL_S, fatal=is_unreachable)
    if wait == PAYMENT and running and placed.answer is None:
        await _until_payment_decided(handle, MAX_WAIT_S)
    progress: OrderProgress | None
    status: WorkflowExecutionStatus | None
    note: str | None = None
    if isinstance(waited, ClosedOrder):
        # Closed while waited for: its result, and its status as the way it closed says it, are what a GET reads.
        status, progress = waited.status, waited.result
    elif (decided := _as_decided(placed)) is not None:
        status, progress = decided
    else:
        # Read as GET reads it, at this moment: the same steps, risk and review a GET a moment later shows, and a state
        # that agrees with `closed`.
        description, progress, note = await read_order(client, handle, await handle.describe())
        status = description.status
    if wait == PAYMENT and progress is not None and progress.payment is None:
        # The update's answer for an order waiting for a person (the workflow keeps no decision then).
        decision = placed.answer.decision if placed.answer is not None else _pending_review(progress)
        progress = progress.model_copy(update={"payment": decision})
    return status_view(address, status.name if status else "UNKNOWN", progress, namespace, note)


def _as_decided(placed: _Placed) -> tuple[WorkflowExecutionStatus, OrderProgress] | None:
    """The order as its payment decision left it, when update-with-start answered with its progress and the order was
    still running when described after it: answered without a query, which would wait behind the order's next
    workflow task (the rest of its calls) and took longer than the decision itself. None otherwise (an answer from an
    older build has no progress; an order that closed meanwhile is read from its result)."""
    answer, description = placed.answer, placed.description
    if answer is None or answer.progress is None or description is None:
        return None
    if description.status != WorkflowExecutionStatus.RUNNING:
        return None
    return description.status, answer.progress


def _pending_review(progress: OrderProgress) -> PaymentDecision | None:
    """What the `payment_decision` update answers for an order waiting for a person (the workflow keeps no decision
    then); None once its review has ended."""
    if progress.state != OrderState.AWAITING_REVIEW:
        return None
    reasons = progress.risk.reasons if progress.risk else []
    return PaymentDecision(outcome=PaymentOutcome.PENDING_REVIEW, reason="; ".join(reasons))


async def _until_payment_decided(handle: WorkflowHandle, seconds: float) -> None:
    """Wait until the order's payment is decided, it waits for a review, or it is no longer running — by asking its
    status, never by an update: placing an order again adds nothing to its history, however often it is sent."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            progress: OrderProgress = await handle.query(OrderWorkflow.status)
        except WorkflowQueryFailedError:
            return  # a worker cannot rebuild it (a stuck order): reading its progress next says so
        except RPCError as err:
            if is_unreachable(err):
                raise
            return  # closed, or no worker answers: its progress (read next) says so
        if progress.payment is not None or progress.state not in (OrderState.RUNNING, None):
            return
        await asyncio.sleep(POLL_S)


# ---- whose order ----------------------------------------------------------------------------------------------------


async def _owned(client: Client, order_id: str, customer_id: str | None, principal: Principal) -> FoundOrder:
    """The order `principal` names, found before anything is done to it; 404 for an unknown order and for another
    customer's alike (the same lookups, the same answer)."""
    if principal.customer_id is not None:
        if customer_id not in (None, principal.customer_id):
            raise _not_found(order_id, principal)
        customer_id = principal.customer_id
    found = await find_order(client, order_id, customer_id)
    if found is None:
        raise _not_found(order_id, principal)
    return found


def _not_found(order_id: str, principal: Principal) -> Problem:
    detail = f"No order {order_id!r}. Check the id, or list orders with GET /orders."
    if principal.customer_id is None:
        detail += " An order placed with a key bound to its customer is found with ?customer_id=<its customer>."
    return Problem(404, "Order not found", detail)


STUCK = "urn:cadenza:problem:order-stuck"
"""The problem type of an order whose workflow task cannot run (docs/operations.md, "Stuck orders")."""


async def answer_stuck(request: Request, exc: Exception) -> JSONResponse:
    """Every route's answer for a stuck order: a conflict with the order's state that an operator resolves, not a
    server error; the detail says what fails and the next step, also as members of their own."""
    assert isinstance(exc, OrderStuck)
    stuck = exc.stuck
    problem = Problem(
        409,
        "Order stuck",
        str(exc),
        type=STUCK,
        cause=stuck.cause,
        failing=stuck.failing,
        next_step=stuck.recovery.next_step(),
    )
    return problem.response(request.url.path)


# ---- reading ---------------------------------------------------------------------------------------------------------


@router.get(
    "/{order_id}",
    response_model=OrderStatusView,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Progress of a running or closed order",
)
async def get_order(
    order_id: OrderId, principal: Reader, client: Temporal, customer_id: CustomerOf = None
) -> OrderStatusView:
    with unavailable_as_503():
        found = await _owned(client, order_id, customer_id, principal)
        description, progress, note = await read_order(client, found.handle, found.description)
    status = description.status.name if description.status else "UNKNOWN"
    return status_view(found.address, status, progress, client.namespace, note)


@router.get(
    "",
    response_model=OrderPage,
    responses=problem_responses(401, 403, 404, 422, 429, 503),
    summary="A page of orders, newest first (from Temporal visibility)",
)
async def list_orders(
    principal: Reader,
    client: Temporal,
    request: Request,
    state: OrderState | None = None,
    customer_id: Annotated[Identifier | None, Query()] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[
        str | None,
        Query(
            pattern=PAGE_TOKEN_PATTERN,
            description="The `next_page_token` of the page before, for the same filters; any other token answers 404",
        ),
    ] = None,
) -> OrderPage:
    if principal.customer_id is not None:
        if customer_id not in (None, principal.customer_id):
            return OrderPage(orders=[], next_page_token=None)
        customer_id = principal.customer_id
    query = 'WorkflowType="OrderWorkflow"'
    # Both values are validated (an enum, an identifier pattern), so nothing a client sends can change the query.
    if state is not None:
        query += f' AND {ORDER_STATUS.name}="{state.value}"'
    if customer_id is not None:
        query += f' AND {CUSTOMER_ID.name}="{customer_id}"'
    tokens: PageTokens = request.app.state.page_tokens
    iterator = client.list_workflows(query, page_size=page_size, next_page_token=tokens.verify(page_token, query))
    with unavailable_as_503():
        try:
            await iterator.fetch_next_page()
        except RPCError as err:
            # A signed token is one Temporal gave out; should Temporal no longer read it, the page is gone all the same.
            if page_token is None or is_unreachable(err):
                raise
            raise no_such_page() from None
    orders = []
    for execution in iterator.current_page or []:
        address = await listed_address(execution)
        orders.append(
            OrderSummary(
                order_id=address.order_id,
                state=execution.typed_search_attributes.get(ORDER_STATUS),
                customer_id=address.customer_id,
                total_amount=execution.typed_search_attributes.get(ORDER_TOTAL),
                execution_status=execution.status.name if execution.status else "UNKNOWN",
                started_at=execution.start_time,
                closed_at=execution.close_time,
                links=links(address, client.namespace),
            )
        )
    token = iterator.next_page_token
    return OrderPage(orders=orders, next_page_token=tokens.sign(token, query) if token else None)


@router.get(
    "/{order_id}/events",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "One event per change of progress, then the end"},
        **problem_responses(401, 403, 404, 409, 422, 429, 503),
    },
    summary="Server-Sent Events: every change of the order's progress until it closes (Last-Event-ID resumes)",
)
async def order_events(
    order_id: OrderId,
    principal: Reader,
    client: Temporal,
    request: Request,
    customer_id: CustomerOf = None,
    last_event_id: Annotated[
        str | None,
        Header(max_length=64, description="Resume after this event id; an id this stream never sent starts it over"),
    ] = None,
) -> Response:
    streams = _holds(request).streams
    release = streams.take(principal.key_id)
    if release is None:
        raise Problem(
            429,
            "Too many event streams",
            f"API key {principal.key_id} already has {streams.limit} event streams open (the most one key may hold per "
            "API replica); close one, or retry in 5 s.",
            headers={"Retry-After": "5"},
        )
    try:
        with unavailable_as_503():
            found = await _owned(client, order_id, customer_id, principal)
            await refuse_if_stuck(client, found.description)
    except BaseException:
        release()
        raise
    # As the SSE spec has it, the id is the client's echo of ours: one we did not send means "from the start".
    after = int(last_event_id) if last_event_id and last_event_id.isascii() and last_event_id.isdigit() else 0
    return event_stream(
        found.handle,
        after=after,
        disconnected=request.is_disconnected,
        authorised=lambda: still_valid(request.app, principal),
        release=release,
    )


# ---- acting on an order ----------------------------------------------------------------------------------------------


@router.post(
    "/{order_id}/cancel",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Cancel an order: whatever it did so far is compensated",
)
async def cancel(order_id: OrderId, principal: Writer, client: Temporal, customer_id: CustomerOf = None) -> Accepted:
    with unavailable_as_503():
        found = await _owned(client, order_id, customer_id, principal)
        address = found.address
        try:
            detail = await cancel_order(client, address.filed_as, shown_as=order_id, description=found.description)
        except OrderClosed as err:
            # Its state only for a key that may read it: a key that may only place and cancel learns that it ended.
            readable = "orders:read" in principal.scopes
            said = (
                f"{err} See GET {address.path}."
                if readable
                else (f"Order {order_id} has already ended; nothing was cancelled.")
            )
            raise Problem(409, "Order already closed", said) from None
    return Accepted(order_id=order_id, detail=detail, links=links(address, client.namespace))


@router.post(
    "/{order_id}/retry-compensation",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    summary="For operators: retry the failed compensations of an order in needs_attention",
)
async def retry_compensation(
    order_id: OrderId, principal: Operator, client: Temporal, request: Request, customer_id: CustomerOf = None
) -> Accepted:
    with unavailable_as_503():
        found = await _owned(client, order_id, customer_id, principal)
        await refuse_if_stuck(client, found.description)
        async with _guard(request).update(found.address, found.description):
            try:
                await operations.retry_compensation(
                    client,
                    found.address.filed_as,
                    operator=f"api-key:{principal.name}",
                    shown_as=order_id,
                    description=found.description,
                )
            except NotAwaitingOperator as err:
                raise Problem(409, "Not waiting for an operator", str(err), state=err.state) from None
    return Accepted(
        order_id=order_id,
        detail=f"Retrying the failed compensations of {order_id}.",
        links=links(found.address, client.namespace),
    )


class ReviewRequest(BaseModel):
    """A reviewer's decision on an order in `awaiting_review`."""

    model_config = ConfigDict(extra="forbid")

    decision: ReviewVerdict = Field(description="approve: charge the order and carry on; reject: compensate it")
    reason: ReviewReason | None = Field(default=None, description="Kept in the order's progress")


@router.post(
    "/{order_id}/review",
    dependencies=[Depends(_json_body)],
    response_model=OrderStatusView,
    responses=problem_responses(401, 403, 404, 409, 415, 422, 429, 503),
    summary="For reviewers: approve or reject an order in awaiting_review (recorded with the API key's name)",
)
async def review(
    order_id: OrderId,
    decision: ReviewRequest,
    principal: Reviewer,
    client: Temporal,
    request: Request,
    customer_id: CustomerOf = None,
) -> OrderStatusView:
    with unavailable_as_503():
        found = await _owned(client, order_id, customer_id, principal)
        async with _guard(request).update(found.address, found.description):
            try:
                progress = await review_order(
                    client,
                    found.address.filed_as,
                    decision.decision,
                    reviewer=f"api-key:{principal.name}",
                    reason=decision.reason,
                    shown_as=order_id,
                    description=found.description,
                )
            except NotAwaitingReview as err:
                raise Problem(
                    409, "Not awaiting review", f"{err} See GET {found.address.path}.", state=err.state
                ) from None
    # The update answers as soon as the order acted on the decision (charging, or compensating): it is still running.
    return status_view(found.address, "RUNNING", progress, client.namespace)
