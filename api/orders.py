"""`/orders`: place, follow, list, cancel and recover orders over HTTP.

Every route goes through the same three doors: an API key with the route's scope (api/auth.py), a key bound to a
customer sees only that customer's orders (anyone else's is a 404, in lists too), and Temporal unreachable is a 503
with Retry-After. The order body is the CLI's `Order` model with the same validation.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionDescription,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Principal, require
from api.catalogue import SkuCatalogue
from api.problems import InvalidField, Problem, problem_responses
from api.stream import event_stream
from api.temporal import TemporalGate, is_unreachable, unavailable_as_503
from api.views import Accepted, OrderPage, OrderStatusView, OrderSummary, links, status_view
from starters.orders import (
    NotAwaitingReview,
    OrderClosed,
    OrderStuck,
    cancel_order,
    is_same_order,
    order_handle,
    place_order,
    progress_of,
    refuse_if_stuck,
    review_order,
    start_options,
)
from workflows.models import (
    WORKFLOW_ID_PREFIX,
    Identifier,
    Order,
    OrderProgress,
    OrderState,
    PaymentDecision,
    PaymentOutcome,
    ReviewReason,
    ReviewVerdict,
)
from workflows.order import OrderWorkflow
from workflows.search_attributes import CUSTOMER_ID, ORDER_STATUS, ORDER_TOTAL

MAX_WAIT_S = 60
PAYMENT = "payment"

router = APIRouter(prefix="/orders", tags=["orders"])

Writer = Annotated[Principal, Depends(require("orders:write"))]
Reader = Annotated[Principal, Depends(require("orders:read"))]
Operator = Annotated[Principal, Depends(require("orders:operate"))]
Reviewer = Annotated[Principal, Depends(require("orders:review"))]
OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]


async def _client(request: Request) -> Client:
    gate: TemporalGate = request.app.state.temporal
    return await gate.client()


Temporal = Annotated[Client, Depends(_client)]


def _json_body(request: Request) -> None:
    # Read from the request rather than declared as a header parameter: Content-Type describes the body, it is not an
    # input of its own (and the 415 is in the operation's documented answers).
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise Problem(415, "Unsupported media type", f"Send the order as application/json, not {media_type or 'no type'}.")


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
        str | None,
        Header(description="RFC 7240: `wait=N` (N ≤ 60 s) waits for the outcome; `wait=payment` for the payment decision"),
    ] = None,
) -> OrderStatusView:
    if not principal.may_see(order.customer_id):
        raise Problem(403, "Not your customer", f"This API key places orders for customer {principal.customer_id} only.")
    catalogue: SkuCatalogue = request.app.state.skus
    if unknown := await catalogue.unknown_skus(order):
        raise Problem(422, "Invalid request", "; ".join(f"{e.field}: {e.message}" for e in unknown), errors=unknown)
    wait = _wait_preference(prefer)
    task_queue: str = request.app.state.task_queue
    response.headers["Location"] = f"/orders/{order.order_id}"
    with unavailable_as_503():
        if wait == PAYMENT:
            handle, decision = await _place_until_paid(client, order, task_queue)
            description = await handle.describe()
            if not await is_same_order(handle, order, description):
                raise _another_order_under_the_same_id(order)
            if decision is not None and description.status.name == "RUNNING":
                # The answer a checkout waits for, without asking the worker again: fulfilment carries on.
                waits = decision.outcome == PaymentOutcome.PENDING_REVIEW
                state = OrderState.AWAITING_REVIEW if waits else OrderState.RUNNING
                progress = OrderProgress(order_id=order.order_id, payment=decision, state=state)
                response.headers["Preference-Applied"] = "wait=payment"
                response.status_code = 200
                return status_view(order.order_id, "RUNNING", progress, client.namespace)
            fresh = False
        else:
            placed = await place_order(client, order, task_queue=task_queue, eager_start=False)
            handle, fresh = placed.handle, not placed.duplicate
            if placed.duplicate:
                await _refuse_another_order_under_the_same_id(handle, order)
        if wait is not None:
            response.headers["Preference-Applied"] = f"wait={wait:g}" if isinstance(wait, float) else f"wait={wait}"
        result = await _result_within(handle, wait) if isinstance(wait, float) else None
        if result is not None:  # closed within the wait: its result is its final progress, no need to ask again
            view = status_view(order.order_id, "COMPLETED", result, client.namespace)
        elif fresh and not wait:  # just started: nothing has happened yet, no need to ask the worker
            view = status_view(order.order_id, "RUNNING", OrderProgress(order_id=order.order_id), client.namespace)
        else:
            description = await handle.describe()
            progress, note = await progress_of(client, handle, description)
            view = status_view(order.order_id, description.status.name, progress, client.namespace, note)
    decided = wait == PAYMENT and view.payment is not None
    if view.closed or decided:
        response.status_code = 200
    return view


def _wait_preference(prefer: str | None) -> float | str | None:
    """`wait=N` (capped at 60 s) or `wait=payment`; other preferences are ignored, as RFC 7240 allows."""
    for preference in (prefer or "").split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        value = value.strip().strip('"').lower()
        if value == PAYMENT:
            return PAYMENT
        try:
            return min(max(float(value), 0.0), MAX_WAIT_S) or None
        except ValueError:
            return None
    return None


async def _refuse_another_order_under_the_same_id(handle: WorkflowHandle, order: Order) -> None:
    if not await is_same_order(handle, order):
        raise _another_order_under_the_same_id(order)


def _another_order_under_the_same_id(order: Order) -> Problem:
    return Problem(
        409, "Order id already used",
        f"Order {order.order_id} was already placed with a different body; nothing new was started. "
        "Use a new order id for a new order.",
    )


async def _result_within(handle: WorkflowHandle, seconds: float) -> OrderProgress | None:
    """The order's result if it completes within `seconds`; None if it is still running — or was cancelled, which
    leaves no result (its final progress is then read like any other order's)."""
    try:
        return await asyncio.wait_for(handle.result(), seconds)
    except (TimeoutError, WorkflowFailureError):
        return None


async def _place_until_paid(
    client: Client, order: Order, task_queue: str
) -> tuple[WorkflowHandle, PaymentDecision | None]:
    """Start the order (or attach to the order already running under its id) and wait for its payment decision, in
    one round trip: update-with-start. None for a closed order (REJECT_DUPLICATE refuses a new run): its progress says
    how the payment went. Whether the order under the id is this one is the caller's check, afterwards: the update is
    read-only, so attaching to another order changes nothing of it."""
    handle = order_handle(client, order.order_id)
    start = WithStartWorkflowOperation(
        OrderWorkflow.run,
        order,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        **start_options(order, task_queue),
    )
    try:
        decision = await client.execute_update_with_start_workflow(
            OrderWorkflow.payment_decision, start_workflow_operation=start, rpc_timeout=timedelta(seconds=MAX_WAIT_S)
        )
    except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError, RPCError) as err:
        if is_unreachable(err):
            raise
        return handle, None
    return await start.workflow_handle(), decision


# ---- reading ---------------------------------------------------------------------------------------------------------


async def _visible(client: Client, order_id: str, principal: Principal) -> tuple[WorkflowHandle, WorkflowExecutionDescription]:
    """The order's handle and description; 404 for an unknown order and for another customer's order alike."""
    handle = order_handle(client, order_id)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise _not_found(order_id) from None
        raise
    if not principal.may_see(description.typed_search_attributes.get(CUSTOMER_ID) or ""):
        raise _not_found(order_id)
    return handle, description


STUCK = "urn:cadenza:problem:order-stuck"
"""The problem type of an order whose workflow task cannot run (docs/operations.md, "Stuck orders")."""


async def answer_stuck(request: Request, exc: Exception) -> JSONResponse:
    """Every route's answer for a stuck order: a conflict with the order's state that an operator resolves, not a
    server error; the detail says what fails and the next step, also as members of their own."""
    assert isinstance(exc, OrderStuck)
    stuck = exc.stuck
    problem = Problem(
        409, "Order stuck", str(exc), type=STUCK, cause=stuck.cause, failing=stuck.failing,
        next_step=stuck.recovery.next_step(),
    )
    return problem.response(request.url.path)


def _not_found(order_id: str) -> Problem:
    return Problem(404, "Order not found", f"No order {order_id!r}. Check the id, or list orders with GET /orders.")


@router.get(
    "/{order_id}",
    response_model=OrderStatusView,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Progress of a running or closed order",
)
async def get_order(order_id: OrderId, principal: Reader, client: Temporal) -> OrderStatusView:
    with unavailable_as_503():
        handle, description = await _visible(client, order_id, principal)
        progress, note = await progress_of(client, handle, description)
    return status_view(order_id, description.status.name, progress, client.namespace, note)


@router.get(
    "",
    response_model=OrderPage,
    responses=problem_responses(401, 403, 422, 429, 503),
    summary="A page of orders, newest first (from Temporal visibility)",
)
async def list_orders(
    principal: Reader,
    client: Temporal,
    state: OrderState | None = None,
    customer_id: Annotated[Identifier | None, Query()] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
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
    iterator = client.list_workflows(query, page_size=page_size, next_page_token=_decode_token(page_token))
    with unavailable_as_503():
        try:
            await iterator.fetch_next_page()
        except RPCError as err:
            # Every other input is validated; what Temporal can still refuse is a token it did not issue.
            if page_token is None or is_unreachable(err):
                raise
            raise _bad_token() from None
    orders = [
        OrderSummary(
            order_id=execution.id.removeprefix(WORKFLOW_ID_PREFIX),
            state=execution.typed_search_attributes.get(ORDER_STATUS),
            customer_id=execution.typed_search_attributes.get(CUSTOMER_ID),
            total_amount=execution.typed_search_attributes.get(ORDER_TOTAL),
            execution_status=execution.status.name if execution.status else "UNKNOWN",
            started_at=execution.start_time,
            closed_at=execution.close_time,
            links=links(execution.id.removeprefix(WORKFLOW_ID_PREFIX), client.namespace),
        )
        for execution in iterator.current_page or []
    ]
    token = iterator.next_page_token
    return OrderPage(orders=orders, next_page_token=_encode_token(token) if token else None)


# Page tokens are Temporal's, opaque, with a checksum in front: a token this API did not give out is refused here, at
# once, rather than sent to Temporal (which answers garbage with an internal error the client retries for seconds).
_CHECKSUM_BYTES = 8


def _encode_token(token: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token).digest()[:_CHECKSUM_BYTES] + token).decode()


def _decode_token(token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise _bad_token() from None
    checksum, temporal_token = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if not temporal_token or hashlib.sha256(temporal_token).digest()[:_CHECKSUM_BYTES] != checksum:
        raise _bad_token()
    return temporal_token


def _bad_token() -> Problem:
    return Problem(
        422, "Invalid request", "page_token: not a token this API gave out; start again without it",
        errors=[InvalidField(field="page_token", message="not a token this API gave out")],
    )


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
    last_event_id: Annotated[
        str | None,
        Header(max_length=64, description="Resume after this event id; an id this stream never sent starts it over"),
    ] = None,
) -> Response:
    with unavailable_as_503():
        handle, description = await _visible(client, order_id, principal)
        await refuse_if_stuck(client, description)
    # As the SSE spec has it, the id is the client's echo of ours: one we did not send means "from the start".
    after = int(last_event_id) if last_event_id and last_event_id.isascii() and last_event_id.isdigit() else 0
    return event_stream(handle, after=after, disconnected=request.is_disconnected)


# ---- acting on an order ----------------------------------------------------------------------------------------------


@router.post(
    "/{order_id}/cancel",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    summary="Cancel an order: whatever it did so far is compensated",
)
async def cancel(order_id: OrderId, principal: Writer, client: Temporal) -> Accepted:
    with unavailable_as_503():
        await _visible(client, order_id, principal)
        try:
            detail = await cancel_order(client, order_id)
        except OrderClosed as err:
            raise Problem(409, "Order already closed", str(err).replace("`cadenza order status", "`GET /orders/")) from None
    return Accepted(order_id=order_id, detail=detail, links=links(order_id, client.namespace))


@router.post(
    "/{order_id}/retry-compensation",
    status_code=202,
    response_model=Accepted,
    responses=problem_responses(401, 403, 404, 409, 422, 429, 503),
    summary="For operators: retry the failed compensations of an order in needs_attention",
)
async def retry_compensation(order_id: OrderId, principal: Operator, client: Temporal) -> Accepted:
    with unavailable_as_503():
        handle, description = await _visible(client, order_id, principal)
        await refuse_if_stuck(client, description)
        try:
            await handle.execute_update(OrderWorkflow.retry_compensation)
        except (WorkflowUpdateFailedError, RPCError) as err:
            if is_unreachable(err):
                raise
            state = description.typed_search_attributes.get(ORDER_STATUS) or description.status.name.lower()
            raise Problem(
                409, "Not waiting for an operator",
                f"Order {order_id} is {state}, not needs_attention: there is no failed compensation to retry.",
                state=state,
            ) from None
    return Accepted(
        order_id=order_id, detail=f"Retrying the failed compensations of {order_id}.", links=links(order_id, client.namespace)
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
async def review(order_id: OrderId, decision: ReviewRequest, principal: Reviewer, client: Temporal) -> OrderStatusView:
    with unavailable_as_503():
        await _visible(client, order_id, principal)
        try:
            progress = await review_order(
                client, order_id, decision.decision, reviewer=f"api-key:{principal.name}", reason=decision.reason
            )
        except NotAwaitingReview as err:
            message = str(err).replace(f"`cadenza order status {order_id}`", f"GET /orders/{order_id}")
            raise Problem(409, "Not awaiting review", message, state=err.state) from None
    # The update answers as soon as the order acted on the decision (charging, or compensating): it is still running.
    return status_view(order_id, "RUNNING", progress, client.namespace)
